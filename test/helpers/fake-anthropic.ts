// A local stand-in for Anthropic's Messages API (POST /v1/messages and
// /v1/messages/count_tokens), speaking
// its wire format: the `message` object, the SSE event sequence of
// https://docs.anthropic.com/en/docs/build-with-claude/streaming (message_start,
// content_block_start, ping, content_block_delta, content_block_stop,
// message_delta, message_stop; tool_use with input_json_delta) and the error
// shape {"type":"error","error":{type,message},"request_id"} of
// https://docs.anthropic.com/en/api/errors. It checks requests the way the real
// API does for the mistakes a translation can make (system in messages, OpenAI
// fields, unmatched tool results, missing headers). Answers echo the last user
// message, so tests can predict every byte; with `thinking` on, a thinking
// block comes first (fake-anthropic-thinking.ts).
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { checkThinking, streamThinking, thinkingBlocks } from "./fake-anthropic-thinking.js";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or undefined when there was none. */
  body: unknown;
}

export interface FailSpec {
  status: number;
  /** Sent as JSON (a string is sent as is); default: Anthropic's error object for the status. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface FakeAnthropic {
  /** The API root, without /v1 (as the engine's baseUrl). */
  url: string;
  requests: RecordedRequest[];
  /** Answers the next request with this status, body and headers. */
  failNext(spec: FailSpec): void;
  /** Answers the next request with these bytes verbatim (a recorded SSE stream or message JSON). */
  replayNext(raw: string, contentType?: string): void;
  /** Delays for every later request: before the first token, and between tokens. */
  setPace(pace: { ttftMs?: number; itlMs?: number }): void;
  /** The next request never finishes: a stream goes silent after `afterTokens` tokens (0: after message_start and a ping). */
  hangNext(afterTokens?: number): void;
  /** The next stream sends `afterTokens` tokens, then an `error` event (default overloaded_error), and ends. */
  errorMidStreamNext(afterTokens: number, error?: { type: string; message: string }): void;
  /** The next stream is written in pieces of `bytes` bytes, each a separate write. */
  fragmentNext(bytes: number): void;
  /** Prompt-cache token counts reported from now on. */
  setCache(cache: { creation?: number; read?: number }): void;
  close(): Promise<void>;
}

/** Tokens an answer has when max_tokens and stop_sequences do not cut it. */
export const FAKE_OUTPUT_TOKENS = 8;

/** Anthropic's error body. */
export function anthropicError(type: string, message: string): Record<string, unknown> {
  return { type: "error", error: { type, message }, request_id: "req_fake0123456789" };
}

const DEFAULT_ERRORS: Record<number, [string, string]> = {
  400: ["invalid_request_error", "Invalid request"],
  401: ["authentication_error", "invalid x-api-key"],
  403: ["permission_error", "Your API key does not have permission to use the specified resource."],
  404: ["not_found_error", "Not found"],
  413: ["request_too_large", "Request exceeds the maximum allowed number of bytes."],
  429: ["rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"],
  500: ["api_error", "Internal server error"],
  529: ["overloaded_error", "Overloaded"],
};

const FIELDS = new Set(["model", "messages", "max_tokens", "system", "stop_sequences", "temperature", "top_p", "top_k", "metadata",
  "tools", "tool_choice", "stream", "thinking", "service_tier", "container", "mcp_servers", "output_config"]);
// What POST /v1/messages/count_tokens accepts: the prompt's fields, nothing about sampling.
const COUNT_FIELDS = new Set(["model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"]);
const BLOCKS = new Set(["text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"]);

type Json = Record<string, unknown>;
interface Body {
  model?: string;
  messages?: { role?: string; content?: unknown }[];
  system?: unknown;
  max_tokens?: number;
  stop_sequences?: string[];
  stream?: boolean;
  tools?: { name?: string }[];
  tool_choice?: { type?: string; name?: string };
  thinking?: unknown;
}

interface Run {
  hang?: number;
  error?: { after: number; type: string; message: string };
  fragment?: number;
}

/** Starts the fake on 127.0.0.1 at a random port. */
export async function startFakeAnthropic(): Promise<FakeAnthropic> {
  const requests: RecordedRequest[] = [];
  let fail: FailSpec | undefined;
  let replay: { raw: string; contentType: string } | undefined;
  let pace = { ttftMs: 0, itlMs: 0 };
  let cache = { creation: 0, read: 0 };
  let next: Run = {};

  const server = createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (raw += c));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        return sendJson(res, 400, anthropicError("invalid_request_error", "There was an issue with the JSON body of your request."));
      }
      requests.push({ method: req.method ?? "", path, headers: req.headers, body });
      const counting = path === "/v1/messages/count_tokens";
      if (req.method !== "POST" || (path !== "/v1/messages" && !counting)) return sendJson(res, 404, anthropicError("not_found_error", "Not Found"));
      if (fail) {
        const f = fail;
        fail = undefined;
        const [type, message] = DEFAULT_ERRORS[f.status] ?? ["api_error", `fake failure ${f.status}`];
        res.writeHead(f.status, { "content-type": "application/json", "request-id": "req_fake0123456789", ...f.headers });
        return res.end(typeof f.body === "string" ? f.body : JSON.stringify(f.body ?? anthropicError(type, message)));
      }
      if (replay) {
        const r = replay;
        replay = undefined;
        res.writeHead(200, { "content-type": r.contentType, "request-id": "req_fake0123456789" });
        return res.end(r.raw);
      }
      if (!req.headers["x-api-key"]) return sendJson(res, 401, anthropicError("authentication_error", "x-api-key header is required"));
      if (!req.headers["anthropic-version"]) return sendJson(res, 400, anthropicError("invalid_request_error", "anthropic-version: header is required"));
      const problem = check(body, counting);
      if (problem) return sendJson(res, 400, anthropicError("invalid_request_error", problem));
      // The count a call with this body reports as usage.input_tokens.
      if (counting) return sendJson(res, 200, { input_tokens: promptTokens(body as Body) });
      const run = next;
      next = {};
      void answer(res, body as Body, pace, cache, run);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext: (spec) => void (fail = spec),
    replayNext: (raw, contentType = "text/event-stream; charset=utf-8") => void (replay = { raw, contentType }),
    setPace: (p) => void (pace = { ttftMs: p.ttftMs ?? 0, itlMs: p.itlMs ?? 0 }),
    hangNext: (afterTokens = 0) => void (next.hang = afterTokens),
    errorMidStreamNext: (after, e = { type: "overloaded_error", message: "Overloaded" }) => void (next.error = { after, ...e }),
    fragmentNext: (bytes) => void (next.fragment = bytes),
    setCache: (c) => void (cache = { creation: c.creation ?? 0, read: c.read ?? 0 }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The first thing the real API would refuse, in its own words; undefined when the body is fine. */
function check(v: unknown, counting: boolean): string | undefined {
  const body = (typeof v === "object" && v !== null ? v : {}) as Json;
  const known = counting ? COUNT_FIELDS : FIELDS;
  for (const field of Object.keys(body)) if (!known.has(field)) return `${field}: Extra inputs are not permitted`;
  if (typeof body.model !== "string") return "model: Field required";
  if (!counting && typeof body.max_tokens !== "number") return "max_tokens: Field required";
  if (!Array.isArray(body.messages) || body.messages.length === 0) return "messages: at least one message is required";
  let toolUses = new Set<string>();
  for (const [i, m] of (body.messages as Json[]).entries()) {
    if (m.role !== "user" && m.role !== "assistant") return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    const blocks = typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content;
    if (!Array.isArray(blocks)) return `messages.${i}.content: Input should be a valid list`;
    const uses = new Set<string>();
    for (const [j, b] of (blocks as Json[]).entries()) {
      if (!BLOCKS.has(String(b.type))) return `messages.${i}.content.${j}.type: Input tag '${String(b.type)}' found using 'type' does not match any of the expected tags`;
      if (b.type === "text" && !String(b.text ?? "").trim()) return `messages.${i}.content.${j}: text content blocks must contain non-whitespace text`;
      if (b.type === "image" && !["base64", "url"].includes(String((b.source as Json | undefined)?.type))) return `messages.${i}.content.${j}.source: invalid image source`;
      if (b.type === "tool_use") uses.add(String(b.id));
      if (b.type === "tool_result" && !toolUses.has(String(b.tool_use_id))) {
        return `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(b.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
      }
    }
    toolUses = uses;
  }
  return checkThinking(body, body.messages as Json[]);
}

async function answer(res: ServerResponse, body: Body, pace: { ttftMs: number; itlMs: number }, cache: { creation: number; read: number }, run: Run): Promise<void> {
  let closed = false;
  res.on("close", () => (closed = true));
  const model = body.model ?? "claude-fake";
  const a = makeAnswer(body);
  const thinking = thinkingBlocks(body, lastUserText(body));
  const usageIn = { input_tokens: promptTokens(body), cache_creation_input_tokens: cache.creation, cache_read_input_tokens: cache.read };
  const headers = { "request-id": "req_fake0123456789" };

  if (!body.stream) {
    if (run.hang !== undefined) return;
    await sleep(pace.ttftMs + pace.itlMs * a.pieces.length);
    if (closed) return;
    const content = a.tool
      ? [{ type: "tool_use", id: "toolu_fake01", name: a.tool, input: JSON.parse(a.pieces.join("")) as unknown }]
      : [{ type: "text", text: a.pieces.join("") }];
    return sendJson(res, 200, {
      id: "msg_fake01", type: "message", role: "assistant", model, content: [...thinking, ...content], stop_reason: a.stop, stop_sequence: a.stopSequence ?? null,
      usage: { ...usageIn, output_tokens: a.pieces.length },
    }, headers);
  }

  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", ...headers });
  const send = async (event: string, payload: Json): Promise<void> => {
    const text = `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;
    if (run.fragment === undefined) return void res.write(text);
    // Split bytes, not characters, so multi-byte UTF-8 sequences straddle writes.
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length && !closed; i += run.fragment) {
      res.write(bytes.subarray(i, i + run.fragment));
      await sleep(1);
    }
  };

  await send("message_start", { type: "message_start", message: {
    id: "msg_fake01", type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null,
    usage: { ...usageIn, output_tokens: 1 },
  } });
  await streamThinking(thinking, send);
  const index = thinking.length;
  const block = a.tool ? { type: "tool_use", id: "toolu_fake01", name: a.tool, input: {} } : { type: "text", text: "" };
  await send("content_block_start", { type: "content_block_start", index, content_block: block });
  if (index === 0) await send("ping", { type: "ping" });
  if (run.hang === 0) return;
  await sleep(pace.ttftMs);
  if (a.tool) await send("content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: "" } });
  for (let t = 0; t < a.pieces.length && !closed; t++) {
    if (t === run.hang) return;
    if (t === run.error?.after) {
      await send("error", anthropicError(run.error.type, run.error.message));
      return void res.end();
    }
    if (t > 0) await sleep(pace.itlMs);
    const delta = a.tool ? { type: "input_json_delta", partial_json: a.pieces[t] } : { type: "text_delta", text: a.pieces[t] };
    await send("content_block_delta", { type: "content_block_delta", index, delta });
  }
  if (run.hang !== undefined || closed) return;
  await send("content_block_stop", { type: "content_block_stop", index });
  await send("message_delta", { type: "message_delta", delta: { stop_reason: a.stop, stop_sequence: a.stopSequence ?? null }, usage: { output_tokens: a.pieces.length } });
  await send("message_stop", { type: "message_stop" });
  res.end();
}

interface Answer {
  /** Text tokens, or the tool input's JSON fragments. */
  pieces: string[];
  stop: string;
  stopSequence?: string;
  tool?: string;
}

// The last user text, word by word, up to max_tokens; a forced tool gets {"echo": text} as its input.
function makeAnswer(body: Body): Answer {
  const words = lastUserText(body).split(/\s+/).filter(Boolean);
  if (words.length === 0) words.push("fake");
  const limit = body.max_tokens ?? FAKE_OUTPUT_TOKENS;
  const count = Math.min(limit, FAKE_OUTPUT_TOKENS);
  const tokens = Array.from({ length: count }, (_, t) => `${t ? " " : ""}${words[t % words.length]}`);
  const choice = body.tool_choice;
  const tool = choice?.type === "tool" ? choice.name : choice?.type === "any" ? body.tools?.[0]?.name : undefined;
  if (tool) {
    const args = JSON.stringify({ echo: tokens.join("") });
    return { pieces: [args.slice(0, 3), args.slice(3, 11), args.slice(11)], stop: "tool_use", tool };
  }
  const full = tokens.join("");
  let cut = -1;
  let stopSequence: string | undefined;
  for (const s of body.stop_sequences ?? []) {
    const at = full.indexOf(s);
    if (at >= 0 && (cut < 0 || at < cut)) [cut, stopSequence] = [at, s];
  }
  if (cut >= 0) {
    const pieces: string[] = [];
    for (let at = 0, t = 0; at < cut; at += tokens[t]!.length, t++) pieces.push(tokens[t]!.slice(0, cut - at));
    return { pieces, stop: "stop_sequence", stopSequence };
  }
  return { pieces: tokens, stop: limit < FAKE_OUTPUT_TOKENS ? "max_tokens" : "end_turn" };
}

function lastUserText(body: Body): string {
  const last = [...(body.messages ?? [])].reverse().find((m) => m.role === "user");
  if (typeof last?.content === "string") return last.content;
  const texts: string[] = [];
  for (const b of (Array.isArray(last?.content) ? last.content : []) as Json[]) {
    if (b.type === "text") texts.push(String(b.text));
    if (b.type === "tool_result") texts.push(typeof b.content === "string" ? b.content : "result");
  }
  return texts.join(" ");
}

function promptTokens(body: Body): number {
  const words = (v: unknown): number => (typeof v === "string" ? v.split(/\s+/).filter(Boolean).length : 0);
  return words(body.system) + (body.messages ?? []).reduce((sum, m) => sum + 3 + words(m.content), 0);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
