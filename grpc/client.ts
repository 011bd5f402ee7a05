// A small typed client for TypeScript services: answers as async iterables,
// failures as BrokerError (the same status, type, code, param and
// retry-after the HTTP facade would give). Leaving a `for await` early, or
// aborting the signal, cancels the call and so the job.
import { Client, credentials, Metadata, type CallOptions, type ClientReadableStream, type MethodDefinition, type ServiceError } from "@grpc/grpc-js";
import type { ChatRequest, CompletionRequest, EmbeddingRequest, Final, ToolCallDelta, Lane } from "../contract/mod.js";
import { serviceDefinitions, type EmbedResponse, type ListWorkersResponse, type OutputChunk, type QueueStatsResponse, type ServiceDefinitions } from "./definitions.js";
import { fromServiceError } from "./status.js";

export interface CallOpts {
  /** Milliseconds the whole call (and so the job, queue included) may take. */
  timeoutMs?: number;
  priority?: Lane;
  requestId?: string;
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** PEM roots for a `grpcs://` server whose certificate is not signed by a public CA. */
  rootCerts?: Buffer;
}

export interface ModelEntry {
  id: string;
  ownedBy: string;
  createdUnixS: number;
}

export interface CollectedChoice {
  index: number;
  content: string;
  finishReason: string;
  toolCalls: ToolCallDelta[];
}

export interface InferenceClient {
  /** The answer as it is generated: deltas, then one final. */
  chat(model: string, request: ChatRequest, opts?: CallOpts): AsyncIterable<OutputChunk>;
  completion(model: string, request: CompletionRequest, opts?: CallOpts): AsyncIterable<OutputChunk>;
  embed(model: string, request: EmbeddingRequest, opts?: CallOpts): Promise<EmbedResponse>;
  listModels(opts?: CallOpts): Promise<ModelEntry[]>;
  listWorkers(opts?: CallOpts): Promise<ListWorkersResponse>;
  queueStats(model?: string, opts?: CallOpts): Promise<QueueStatsResponse>;
  close(): void;
}

let defs: ServiceDefinitions | undefined;

function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as Partial<ServiceError>).code === "number" && (e as Partial<ServiceError>).metadata instanceof Metadata;
}

/**
 * `url` is `host:port` or `grpc://host:port` (plaintext) or `grpcs://host:port` (TLS).
 * `key` goes out as `authorization: Bearer <key>` on every call.
 */
export function createInferenceClient(url: string, key?: string, options: ClientOptions = {}): InferenceClient {
  const d = (defs ??= serviceDefinitions());
  const tls = url.startsWith("grpcs://");
  const address = url.replace(/^grpcs?:\/\//, "");
  const client = new Client(address, tls ? credentials.createSsl(options.rootCerts ?? null) : credentials.createInsecure(), {
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
  });

  const metadata = (opts: CallOpts): Metadata => {
    const md = new Metadata();
    if (key) md.set("authorization", `Bearer ${key}`);
    if (opts.priority) md.set("x-priority", opts.priority);
    if (opts.requestId) md.set("x-request-id", opts.requestId);
    return md;
  };
  const callOptions = (opts: CallOpts): CallOptions => (opts.timeoutMs ? { deadline: Date.now() + opts.timeoutMs } : {});

  async function* iterate(call: ClientReadableStream<OutputChunk>, signal?: AbortSignal): AsyncGenerator<OutputChunk> {
    const abort = (): void => call.cancel();
    signal?.addEventListener("abort", abort, { once: true });
    try {
      for await (const m of call) yield m as OutputChunk;
    } catch (e) {
      throw isServiceError(e) ? fromServiceError(e) : e;
    } finally {
      signal?.removeEventListener("abort", abort);
      // A no-op after the status arrived; otherwise the caller stopped reading: cancel the job.
      call.cancel();
    }
  }

  const unary = <Req, Res>(m: MethodDefinition<Req, Res>, req: Req, opts: CallOpts): Promise<Res> =>
    new Promise((resolve, reject) => {
      const call = client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, metadata(opts), callOptions(opts), (err, res) => {
        opts.signal?.removeEventListener("abort", abort);
        if (err) reject(fromServiceError(err));
        else if (res == null) reject(new Error("empty response"));
        else resolve(res);
      });
      const abort = (): void => call.cancel();
      opts.signal?.addEventListener("abort", abort, { once: true });
    });

  return {
    chat: (model, request, opts = {}) => {
      const m = d.chat.client;
      return iterate(client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, { model, request }, metadata(opts), callOptions(opts)), opts.signal);
    },
    completion: (model, request, opts = {}) => {
      const m = d.completion.client;
      return iterate(client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, { model, request }, metadata(opts), callOptions(opts)), opts.signal);
    },
    embed: (model, request, opts = {}) => unary(d.embed.client, { model, request }, opts),
    listModels: async (opts = {}) => {
      const res = await unary(d.listModels.client, {}, opts);
      return res.models.map((m) => ({ id: m.id ?? "", ownedBy: m.ownedBy ?? "", createdUnixS: m.createdUnixS ?? 0 }));
    },
    listWorkers: (opts = {}) => unary(d.listWorkers.client, {}, opts),
    queueStats: (model = "", opts = {}) => unary(d.queueStats.client, { model }, opts),
    close: () => client.close(),
  };
}

/** Reads a streamed answer to its end: the text (and tool calls) per choice, and the final. */
export async function collect(stream: AsyncIterable<OutputChunk>): Promise<{ id: string; choices: CollectedChoice[]; final: Final }> {
  const choices = new Map<number, CollectedChoice>();
  let id = "";
  for await (const chunk of stream) {
    id ||= chunk.id;
    for (const d of chunk.deltas?.items ?? []) {
      const index = d.index ?? 0;
      let c = choices.get(index);
      if (!c) choices.set(index, (c = { index, content: "", finishReason: "", toolCalls: [] }));
      c.content += d.content ?? "";
      if (d.finishReason) c.finishReason = d.finishReason;
      if (d.toolCalls?.length) c.toolCalls.push(...d.toolCalls);
    }
    if (chunk.final) return { id, choices: [...choices.values()].sort((a, b) => a.index - b.index), final: chunk.final };
  }
  throw new Error("the stream ended without its final message");
}
