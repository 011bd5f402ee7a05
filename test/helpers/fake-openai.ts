// A local stand-in for an OpenAI-compatible server, speaking OpenAI's exact
// wire format for /v1/chat/completions and /v1/models. Answers are echoes of
// the last user message, so tests can predict every byte.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { answerCompletion, answerEmbeddings, cutAtStop } from "./fake-openai-legacy.js";

export interface RecordedRequest {
  method: string;
  path: string;
  /** The path with its query string. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or undefined when there was none. */
  body: unknown;
}

export interface FailSpec {
  status: number;
  /** Sent as JSON (a string is sent as is); default: an OpenAI error object. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface FakeOpenAI {
  /** Base URL including /v1. */
  url: string;
  requests: RecordedRequest[];
  /** Answers the next chat request with this status, body and headers. */
  failNext(spec: FailSpec): void;
  /** Delays for every later request: before the first token, and between tokens. */
  setPace(pace: { ttftMs?: number; itlMs?: number }): void;
  /** The next chat request never finishes: it goes silent after `afterTokens` tokens (stream) or never answers. */
  hangNext(afterTokens?: number): void;
  /** The next stream sends `afterTokens` tokens, then an OpenAI error event, and ends. */
  errorMidStreamNext(afterTokens: number): void;
  /** The next stream is written in pieces of `bytes` bytes, each a separate write. */
  fragmentNext(bytes: number): void;
  close(): Promise<void>;
}

/** Tokens an answer has when max_tokens and stop do not cut it. */
export const FAKE_OUTPUT_TOKENS = 8;

interface Body {
  model?: string;
  messages?: { role?: string; content?: unknown }[];
  n?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  tool_choice?: { type?: string; function?: { name?: string } };
}

interface Answer {
  /** Content tokens, or the tool call's argument fragments. */
  pieces: string[];
  finish: string;
  toolName?: string;
}

/** Starts the fake on 127.0.0.1 at a random port. */
export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const requests: RecordedRequest[] = [];
  let fail: FailSpec | undefined;
  let pace = { ttftMs: 0, itlMs: 0 };
  let hang: number | undefined;
  let errorAfter: number | undefined;
  let fragment: number | undefined;

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
        return sendJson(res, 400, errorBody("We could not parse the JSON body of your request.", "invalid_request_error"));
      }
      requests.push({ method: req.method ?? "", path, url: req.url ?? "/", headers: req.headers, body });
      if (req.method === "GET" && path === "/v1/models") {
        return sendJson(res, 200, { object: "list", data: [{ id: "fake-model", object: "model", created: 0, owned_by: "fake" }] });
      }
      if (req.method === "POST" && path === "/v1/completions") return answerCompletion(res, body as Parameters<typeof answerCompletion>[1]);
      if (req.method === "POST" && path === "/v1/embeddings") return answerEmbeddings(res, body as Parameters<typeof answerEmbeddings>[1]);
      if (req.method !== "POST" || path !== "/v1/chat/completions") {
        return sendJson(res, 404, errorBody(`Unknown request URL: ${req.method} ${path}.`, "invalid_request_error"));
      }
      if (fail) {
        const f = fail;
        fail = undefined;
        res.writeHead(f.status, { "content-type": "application/json", ...f.headers });
        return res.end(typeof f.body === "string" ? f.body : JSON.stringify(f.body ?? errorBody(`fake failure ${f.status}`, "server_error")));
      }
      const run = { hang, errorAfter, fragment };
      hang = errorAfter = fragment = undefined;
      void answer(res, body as Body, pace, run);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    failNext: (spec) => void (fail = spec),
    setPace: (p) => void (pace = { ttftMs: p.ttftMs ?? 0, itlMs: p.itlMs ?? 0 }),
    hangNext: (afterTokens = 0) => void (hang = afterTokens),
    errorMidStreamNext: (afterTokens) => void (errorAfter = afterTokens),
    fragmentNext: (bytes) => void (fragment = bytes),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface RunFlags {
  hang: number | undefined;
  errorAfter: number | undefined;
  fragment: number | undefined;
}

async function answer(res: ServerResponse, body: Body, pace: { ttftMs: number; itlMs: number }, run: RunFlags): Promise<void> {
  let closed = false;
  res.on("close", () => (closed = true));
  const model = body.model ?? "fake-model";
  const n = body.n ?? 1;
  const answers = Array.from({ length: n }, (_, i) => makeAnswer(body, i));
  const completionTokens = answers.reduce((sum, a) => sum + a.pieces.length, 0);
  const usage = { prompt_tokens: promptTokens(body), completion_tokens: completionTokens, total_tokens: promptTokens(body) + completionTokens };
  const base = { id: "chatcmpl-fake", created: 1700000000, model, system_fingerprint: "fp_fake" };

  if (!body.stream) {
    if (run.hang !== undefined) return;
    await sleep(pace.ttftMs + pace.itlMs * FAKE_OUTPUT_TOKENS);
    if (closed) return;
    const choices = answers.map((a, index) => ({ index, message: message(a), logprobs: null, finish_reason: a.finish }));
    return sendJson(res, 200, { ...base, object: "chat.completion", choices, usage });
  }

  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
  const withUsage = body.stream_options?.include_usage === true;
  const send = async (payload: unknown): Promise<void> => {
    const text = `data: ${typeof payload === "string" ? payload : JSON.stringify(payload)}\n\n`;
    if (run.fragment === undefined) return void res.write(text);
    // Split bytes, not characters, so multi-byte UTF-8 sequences straddle writes.
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length && !closed; i += run.fragment) {
      res.write(bytes.subarray(i, i + run.fragment));
      await sleep(1);
    }
  };
  const chunk = (choices: unknown[]): Record<string, unknown> => ({
    ...base, object: "chat.completion.chunk", choices, ...(withUsage ? { usage: null } : {}),
  });

  if (run.hang === 0) return;
  await sleep(pace.ttftMs);
  const first = (a: Answer): Record<string, unknown> =>
    a.toolName
      ? { role: "assistant", content: null, tool_calls: [{ index: 0, id: "call_fake", type: "function", function: { name: a.toolName, arguments: "" } }], refusal: null }
      : { role: "assistant", content: "", refusal: null };
  for (let i = 0; i < n && !closed; i++) await send(chunk([{ index: i, delta: first(answers[i]!), logprobs: null, finish_reason: null }]));
  const steps = Math.max(...answers.map((a) => a.pieces.length));
  for (let t = 0; t < steps && !closed; t++) {
    if (t === run.hang) return;
    if (t === run.errorAfter) {
      await send({ error: { message: "The server had an error while processing your request.", type: "server_error", param: null, code: null } });
      return void res.end();
    }
    if (t > 0) await sleep(pace.itlMs);
    for (let i = 0; i < n && !closed; i++) {
      const a = answers[i]!;
      const piece = a.pieces[t];
      if (piece === undefined) continue;
      const delta = a.toolName ? { tool_calls: [{ index: 0, function: { arguments: piece } }] } : { content: piece };
      await send(chunk([{ index: i, delta, logprobs: null, finish_reason: null }]));
    }
  }
  if (run.hang !== undefined) return;
  for (let i = 0; i < n && !closed; i++) await send(chunk([{ index: i, delta: {}, logprobs: null, finish_reason: answers[i]!.finish }]));
  if (withUsage) await send({ ...base, object: "chat.completion.chunk", choices: [], usage });
  await send("[DONE]");
  res.end();
}

// Choice i echoes the last user message rotated by i words, so choices differ predictably.
function makeAnswer(body: Body, i: number): Answer {
  const last = [...(body.messages ?? [])].reverse().find((m) => m.role === "user");
  const text = typeof last?.content === "string" ? last.content : "fake";
  const words = text.split(/\s+/).filter(Boolean);
  if (words.length === 0) words.push("fake");
  const limit = body.max_completion_tokens ?? body.max_tokens;
  const count = limit !== undefined ? Math.min(limit, FAKE_OUTPUT_TOKENS) : FAKE_OUTPUT_TOKENS;
  const tokens = Array.from({ length: count }, (_, t) => `${t ? " " : ""}${words[(t + i) % words.length]}`);
  const toolName = body.tool_choice?.function?.name;
  if (toolName) {
    const args = JSON.stringify({ echo: tokens.join("") });
    return { pieces: [args.slice(0, 5), args.slice(5)], finish: "tool_calls", toolName };
  }
  const stopped = cutAtStop(tokens, body.stop);
  if (stopped) return { pieces: stopped, finish: "stop" };
  return { pieces: tokens, finish: limit !== undefined && limit < FAKE_OUTPUT_TOKENS ? "length" : "stop" };
}

function message(a: Answer): Record<string, unknown> {
  if (!a.toolName) return { role: "assistant", content: a.pieces.join(""), refusal: null };
  const call = { id: "call_fake", type: "function", function: { name: a.toolName, arguments: a.pieces.join("") } };
  return { role: "assistant", content: null, tool_calls: [call], refusal: null };
}

function promptTokens(body: Body): number {
  return (body.messages ?? []).reduce((sum, m) => sum + 3 + (typeof m.content === "string" ? m.content.split(/\s+/).filter(Boolean).length : 0), 0);
}

function errorBody(message: string, type: string): unknown {
  return { error: { message, type, param: null, code: null } };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
