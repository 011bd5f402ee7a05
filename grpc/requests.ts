// The gRPC messages as canonical requests. Decoded protobuf messages carry
// proto3 defaults ("" and [] for absent fields); they are dropped here so the
// core's one validation (core/validate) sees absent fields as absent. Its
// errors name the proto field path in `param` ("request.messages[1].role"),
// as OpenAI names the JSON field.
import { fields, validateChat, validateCompletion, validateEmbedding, type ChatCall, type CompletionCall, type EmbeddingCall, type InputLimits, type Path, type Valid } from "../core/mod.js";
import type { ChatMessage, ChatRequest, CompletionRequest, ContentPart, ToolCall } from "../contract/mod.js";
import type { ChatCompletionRequest, EmbedRequest, TextCompletionRequest } from "./definitions.js";

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A canonical path as the proto names it: the job kind is the call's `request` field. */
export function grpcParam(path: Path): string {
  let out = "";
  path.forEach((key, i) => {
    const name = i === 0 && path.length > 1 ? "request" : typeof key === "string" ? snake(key) : key;
    out += typeof name === "number" ? `[${name}]` : out === "" ? String(name) : `.${String(name)}`;
  });
  // A missing `request` is named as the field, not the job kind.
  return path.length === 1 && path[0] !== "model" ? "request" : out;
}

const text = (s: string | null | undefined): string | undefined => (s ? s : undefined);
const list = <T>(a: T[] | null | undefined): T[] | undefined => (a?.length ? a : undefined);

function part(p: ContentPart): ContentPart {
  const type = p.type ?? "";
  if (type === "text") return { type, text: p.text ?? "" };
  if (type === "image_url") return defined({ type, imageUrl: text(p.imageUrl), imageDetail: text(p.imageDetail) });
  // Other part types reach engines as the client's JSON, with its type; JSON that does not parse is the core's to reject.
  const raw = p.rawJson ?? "";
  return defined({ type: text(type), rawJson: withType(raw, type) });
}

function withType(raw: string, type: string): string {
  if (!raw) return JSON.stringify({ type });
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? JSON.stringify({ ...v, type }) : raw;
  } catch {
    return raw;
  }
}

const toolCall = (c: ToolCall): ToolCall => defined({ id: text(c.id), type: c.type || "function", name: text(c.name), arguments: c.arguments ?? "" });

function message(m: ChatMessage): ChatMessage {
  return defined({
    role: text(m.role),
    content: m.content ?? undefined,
    parts: m.content == null ? list(m.parts)?.map(part) : undefined,
    name: text(m.name),
    toolCalls: list(m.toolCalls)?.map(toolCall),
    toolCallId: text(m.toolCallId),
  });
}

type Shared = "n" | "stop" | "stream" | "includeUsage" | "user" | "extraJson" | "maxTokens" | "temperature" | "topP" | "seed" | "presencePenalty" | "frequencyPenalty";

// Optional proto3 fields are set only when present: encoding an explicit undefined would still mark presence in some codecs.
/**
 * The fields chat and legacy completions share; absent ones stay absent.
 * Answers always stream over gRPC and the final message always has usage,
 * so `stream` and `include_usage` are set.
 */
function shared(r: ChatRequest | CompletionRequest): Pick<ChatRequest, Shared> {
  return defined({
    n: r.n || 1,
    stop: fields.toStop(r.stop ?? []),
    stream: true,
    includeUsage: true,
    user: r.user ?? "",
    extraJson: r.extraJson ?? "",
    maxTokens: r.maxTokens ?? undefined,
    temperature: r.temperature ?? undefined,
    topP: r.topP ?? undefined,
    seed: r.seed ?? undefined,
    presencePenalty: r.presencePenalty ?? undefined,
    frequencyPenalty: r.frequencyPenalty ?? undefined,
  });
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** A ChatCompletion call as a job request. @throws BrokerError 400 invalid_request naming the field. */
export function chatJob(req: ChatCompletionRequest, limits: InputLimits): Valid<ChatCall> {
  const r = req.request;
  const chat: ChatRequest | undefined = r ? {
    messages: list(r.messages)?.map(message) ?? [],
    // "[]" is no tools, as an absent field.
    toolsJson: r.toolsJson === "[]" ? "" : (r.toolsJson ?? ""),
    toolChoiceJson: r.toolChoiceJson ?? "",
    responseFormatJson: r.responseFormatJson ?? "",
    maxCompletionTokens: r.maxCompletionTokens ?? false,
    ...shared(r),
  } : undefined;
  if (chat && !chat.messages?.length) delete chat.messages;
  return validateChat({ model: text(req.model), chat }, grpcParam, limits);
}

/** A Completion call as a job request. @throws BrokerError 400 invalid_request naming the field. */
export function completionJob(req: TextCompletionRequest, limits: InputLimits): Valid<CompletionCall> {
  const r = req.request;
  const completion: CompletionRequest | undefined = r ? defined({
    prompts: list(r.prompts),
    echo: r.echo ?? false,
    suffix: r.suffix ?? "",
    ...shared(r),
  }) : undefined;
  return validateCompletion({ model: text(req.model), completion }, grpcParam, limits);
}

/** An Embed call as a job request. @throws BrokerError 400 invalid_request naming the field. */
export function embeddingJob(req: EmbedRequest, limits: InputLimits): Valid<EmbeddingCall> {
  const r = req.request;
  const embedding = r ? defined({ inputs: list(r.inputs), dimensions: r.dimensions ?? 0, user: r.user ?? "", extraJson: r.extraJson ?? "" }) : undefined;
  return validateEmbedding({ model: text(req.model), embedding }, grpcParam, limits);
}
