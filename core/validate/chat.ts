// Validation of the gRPC requests: the job's own ChatRequest /
// CompletionRequest / EmbeddingRequest, checked field by field with the same
// bounds as the HTTP facade, and copied into a fresh job request. Errors are
// 400 invalid_request naming the proto field path in `param`
// ("request.messages[1].role"), as OpenAI names the JSON field.
import { BrokerError } from "../errors.js";
import type { ChatMessage, ChatRequest, CompletionRequest, ContentPart, EmbeddingRequest, ToolCall } from "../proto.js";
import type { ChatCompletionRequest, EmbedRequest, TextCompletionRequest } from "./definitions.js";

const ROLES = ["system", "developer", "user", "assistant", "tool", "function"];
const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export function invalid(param: string | null, message: string): BrokerError {
  return new BrokerError("invalid_request", message, { param });
}

function missing(param: string): BrokerError {
  return invalid(param, `Missing required parameter: '${param}'.`);
}

function expected(param: string, what: string): BrokerError {
  return invalid(param, `Invalid value for '${param}': expected ${what}.`);
}

function model(m: string): string {
  if (!m) throw missing("model");
  return m;
}

function between(v: number | null | undefined, min: number, max: number, param: string): number | undefined {
  if (v == null) return undefined;
  if (!Number.isFinite(v) || v < min || v > max) throw expected(param, `a number between ${min} and ${max}`);
  return v;
}

function choices(n: number, param: string): number {
  if (n > 128) throw expected(param, "an integer between 1 and 128 (0 means 1)");
  return n || 1;
}

function maxTokens(v: number | null | undefined, param: string): number | undefined {
  if (v == null) return undefined;
  if (v < 1) throw expected(param, "a positive integer");
  return v;
}

function stops(stop: string[], param: string): string[] {
  if (stop.length > 4) throw expected(param, "at most 4 stop sequences");
  // OpenAI ignores empty stop strings; engines may treat "" as "stop at once".
  return stop.filter((s) => s !== "");
}

/** JSON text carried in a string field: "" stays "", anything else must parse to the expected shape. */
function json(text: string, param: string, shape: "object" | "array" | "any", check?: (v: unknown) => boolean): string {
  if (!text) return "";
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw invalid(param, `Invalid value for '${param}': not valid JSON.`);
  }
  const isObject = typeof v === "object" && v !== null && !Array.isArray(v);
  if ((shape === "object" && !isObject) || (shape === "array" && !Array.isArray(v))) throw expected(param, `a JSON ${shape}`);
  if (check && !check(v)) throw invalid(param, `Invalid value for '${param}'.`);
  return text;
}

const rec = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {});

const validTool = (t: unknown): boolean =>
  rec(t).type === "function" && FUNCTION_NAME.test(String(rec(rec(t).function).name ?? ""));
const validToolChoice = (c: unknown): boolean =>
  typeof c === "string" ? ["none", "auto", "required"].includes(c) : rec(c).type === "function" && typeof rec(rec(c).function).name === "string";
const validResponseFormat = (f: unknown): boolean => {
  const type = rec(f).type;
  if (type === "json_schema") return typeof rec(f).json_schema === "object" && f !== null;
  return type === "text" || type === "json_object";
};

function part(p: ContentPart, at: string): ContentPart {
  const type = p.type ?? "";
  if (!type) throw missing(`${at}.type`);
  if (type === "text") return { type, text: p.text ?? "" };
  if (type === "image_url") {
    if (!p.imageUrl) throw missing(`${at}.image_url`);
    const detail = p.imageDetail ?? "";
    if (detail && !["auto", "low", "high"].includes(detail)) throw expected(`${at}.image_detail`, "one of 'auto', 'low', 'high'");
    return { type, imageUrl: p.imageUrl, imageDetail: detail };
  }
  // Other part types reach engines as the client's JSON, with its type.
  const raw = json(p.rawJson ?? "", `${at}.raw_json`, "object");
  return { type, rawJson: raw ? JSON.stringify({ ...rec(JSON.parse(raw)), type }) : JSON.stringify({ type }) };
}

function toolCall(c: ToolCall, at: string): ToolCall {
  if (!c.id) throw missing(`${at}.id`);
  if (c.type && c.type !== "function") throw expected(`${at}.type`, "'function'");
  if (!c.name) throw missing(`${at}.name`);
  return { id: c.id, type: "function", name: c.name, arguments: c.arguments ?? "" };
}

function message(m: ChatMessage, at: string): ChatMessage {
  const role = m.role ?? "";
  if (!role) throw missing(`${at}.role`);
  if (!ROLES.includes(role)) throw expected(`${at}.role`, `one of ${ROLES.map((r) => `'${r}'`).join(", ")}`);
  const out: ChatMessage = { role };
  if (m.content != null) out.content = m.content;
  else if (m.parts?.length) out.parts = m.parts.map((p, i) => part(p, `${at}.parts[${i}]`));
  // Only an assistant turn may leave content out (it called tools instead).
  else if (role !== "assistant") throw missing(`${at}.content`);
  if (m.name) out.name = m.name;
  else if (role === "function") throw missing(`${at}.name`);
  if (m.toolCalls?.length) out.toolCalls = m.toolCalls.map((c, i) => toolCall(c, `${at}.tool_calls[${i}]`));
  if (m.toolCallId) out.toolCallId = m.toolCallId;
  else if (role === "tool") throw missing(`${at}.tool_call_id`);
  return out;
}

/**
 * A ChatCompletion call as a job request. Answers always stream over gRPC
 * and the final message always has usage, so `stream` and `include_usage` are set.
 * @throws BrokerError 400 invalid_request naming the field.
 */
export function chatJob(req: ChatCompletionRequest): { model: string; chat: ChatRequest } {
  const name = model(req.model);
  const r = req.request;
  if (!r) throw missing("request");
  const messages = r.messages ?? [];
  if (!messages.length) throw missing("request.messages");
  const chat: ChatRequest = {
    messages: messages.map((m, i) => message(m, `request.messages[${i}]`)),
    n: choices(r.n ?? 0, "request.n"),
    stop: stops(r.stop ?? [], "request.stop"),
    stream: true,
    includeUsage: true,
    user: r.user ?? "",
    toolsJson: json(r.toolsJson ?? "", "request.tools_json", "array", (v) => (v as unknown[]).every(validTool)),
    toolChoiceJson: json(r.toolChoiceJson ?? "", "request.tool_choice_json", "any", validToolChoice),
    responseFormatJson: json(r.responseFormatJson ?? "", "request.response_format_json", "object", validResponseFormat),
    extraJson: json(r.extraJson ?? "", "request.extra_json", "object"),
    maxCompletionTokens: r.maxCompletionTokens ?? false,
  };
  if (chat.toolsJson === "[]") chat.toolsJson = "";
  return { model: name, chat: { ...chat, ...sampling(r) } };
}

/** A Completion call as a job request. @throws BrokerError 400 invalid_request naming the field. */
export function completionJob(req: TextCompletionRequest): { model: string; completion: CompletionRequest } {
  const name = model(req.model);
  const r = req.request;
  if (!r) throw missing("request");
  const prompts = r.prompts ?? [];
  if (!prompts.length) throw missing("request.prompts");
  const completion: CompletionRequest = {
    prompts,
    n: choices(r.n ?? 0, "request.n"),
    stop: stops(r.stop ?? [], "request.stop"),
    stream: true,
    includeUsage: true,
    echo: r.echo ?? false,
    suffix: r.suffix ?? "",
    user: r.user ?? "",
    extraJson: json(r.extraJson ?? "", "request.extra_json", "object"),
  };
  return { model: name, completion: { ...completion, ...sampling(r) } };
}

/** An Embed call as a job request. @throws BrokerError 400 invalid_request naming the field. */
export function embeddingJob(req: EmbedRequest): { model: string; embedding: EmbeddingRequest } {
  const name = model(req.model);
  const r = req.request;
  if (!r) throw missing("request");
  const inputs = r.inputs ?? [];
  if (!inputs.length) throw missing("request.inputs");
  if (inputs.length > 2048) throw expected("request.inputs", "at most 2048 inputs");
  const empty = inputs.findIndex((s) => s === "");
  if (empty >= 0) throw expected(`request.inputs[${empty}]`, "a non-empty string");
  const dimensions = r.dimensions ?? 0;
  if (dimensions > 65536) throw expected("request.dimensions", "an integer between 1 and 65536 (0: the model's own)");
  return {
    model: name,
    embedding: { inputs, dimensions, user: r.user ?? "", extraJson: json(r.extraJson ?? "", "request.extra_json", "object") },
  };
}

// Optional proto3 fields are set only when present: encoding an explicit undefined would still mark presence in some codecs.
/** The sampling fields chat and legacy completions share, validated; absent ones stay absent. */
function sampling(r: ChatRequest | CompletionRequest): Pick<ChatRequest, "maxTokens" | "temperature" | "topP" | "seed" | "presencePenalty" | "frequencyPenalty"> {
  return defined({
    maxTokens: maxTokens(r.maxTokens, "request.max_tokens"),
    temperature: between(r.temperature, 0, 2, "request.temperature"),
    topP: between(r.topP, 0, 1, "request.top_p"),
    seed: r.seed ?? undefined,
    presencePenalty: between(r.presencePenalty, -2, 2, "request.presence_penalty"),
    frequencyPenalty: between(r.frequencyPenalty, -2, 2, "request.frequency_penalty"),
  });
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
