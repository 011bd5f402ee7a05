#!/usr/bin/env node
// The limit the broker is measured against: the same OpenAI work (parse and
// validate the request, run the sim engine, format OpenAI JSON or SSE) in one
// Fastify process, with no NATS, no protobuf and no queue.
//   PORT=8090 SIM_OPTIONS='{"outputTokens":256}' node dist/bench/direct-server.js
import { randomBytes, randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import { parseConfig } from "../config/config.js";
import { BrokerError } from "../contract/errors.js";
import { pb, type Delta, type Final } from "../contract/proto.js";
import { ChatAggregator, ChatStream } from "../http/openai/chat-format.js";
import { parseChatRequest } from "../http/openai/chat-request.js";
import { sendError, toBrokerError } from "../http/openai/errors.js";
import { startSse, writeSse } from "../http/openai/sse.js";
import type { DeltaSink, EngineAdapter } from "../workers/engine.js";
import { createSimEngine } from "../workers/engines/sim/index.js";

/**
 * Batches deltas emitted in the same tick and merges adjacent content of one
 * choice, as the worker's ChunkEmitter does before a NATS publish: the client
 * then receives the same SSE events from both systems, so bytes and token
 * counts compare one to one.
 */
class TickBatcher implements DeltaSink {
  private pending: Delta[] = [];
  private scheduled = false;

  constructor(private readonly onBatch: (items: Delta[]) => void) {}

  delta(d: Delta): void {
    const last = this.pending[this.pending.length - 1];
    if (last && last.index === d.index && !last.finishReason && !last.toolCalls?.length && !d.role && !d.toolCalls?.length) {
      last.content = (last.content ?? "") + (d.content ?? "");
      if (d.finishReason) last.finishReason = d.finishReason;
    } else {
      this.pending.push({ ...d });
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const items = this.pending;
    this.pending = [];
    this.onBatch(items);
  };
}

// The gateway's default input limits, so the direct path validates as the gateway does.
const limits = parseConfig({}).gateway.inputLimits;

async function chat(engine: EngineAdapter, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const { model, stream, chat: request } = parseChatRequest(req.body, limits);
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const job = pb.InferenceJob.create({ id, model, chat: request });
  const abort = new AbortController();
  if (!stream) {
    const agg = new ChatAggregator();
    const sink = new TickBatcher((items) => agg.add(items));
    const res = await engine.run(job, sink, { signal: abort.signal });
    sink.flush();
    const final: Final = { usage: res.usage, model: res.model ?? model };
    return agg.result({ id, created, model, final });
  }
  const out = new ChatStream({ id, created, model, includeUsage: request.includeUsage === true });
  const raw: ServerResponse = reply.raw;
  raw.once("close", () => {
    if (!raw.writableFinished) abort.abort(new BrokerError("cancelled", "client disconnected"));
  });
  reply.hijack();
  // Headers wait for the first batch, as the facade's do.
  let started = false;
  const sink = new TickBatcher((items) => {
    if (raw.destroyed) return;
    if (!started) {
      started = true;
      startSse(raw, req.id);
    }
    void writeSse(raw, out.deltas(items));
  });
  try {
    const res = await engine.run(job, sink, { signal: abort.signal });
    sink.flush();
    if (!started) startSse(raw, req.id);
    void writeSse(raw, out.final({ usage: res.usage, model: res.model ?? model }));
  } catch (e) {
    if (!raw.destroyed) {
      if (!started) startSse(raw, req.id);
      void writeSse(raw, out.error(toBrokerError(e, req)));
    }
  }
  raw.end();
  return undefined;
}

async function main(): Promise<void> {
  const engine = await createSimEngine({ model: "sim", options: JSON.parse(process.env.SIM_OPTIONS ?? "{}") as unknown });
  const app = Fastify({
    logger: false,
    // Same per-request work as the gateway: a fresh request id, echoed in a header.
    genReqId: () => `req_${randomBytes(12).toString("hex")}`,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new BrokerError("invalid_json", "The request body is not valid JSON."), undefined);
    }
  });
  app.addHook("onSend", async (req, reply) => {
    reply.header("x-request-id", req.id);
  });
  app.setErrorHandler((err, req, reply) => sendError(reply, toBrokerError(err, req)));
  app.get("/healthz", async () => ({ status: "ok" }));
  app.post("/v1/chat/completions", (req, reply) => chat(engine, req, reply));
  await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT ?? 0) });
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => void app.close().then(() => process.exit(0)));
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
