// The gateway's input limits (config gateway.inputLimits), checked on the
// canonical request before its schema runs, so nothing walks or parses an
// oversized or too deeply nested input first. Messages follow OpenAI's for
// the same failures ("Invalid 'tools': array too long. Expected ...") and end
// with the config field that sets the limit, so whoever hits one knows it is
// this gateway's and where to raise it.
import type { BrokerError, ChatMessage, ChatRequest, CompletionRequest, EmbeddingRequest } from "../../contract/mod.js";
import { invalid, type RenderParam } from "./issues.js";

/** The bounds every request is checked against (config gateway.inputLimits). */
export interface InputLimits {
  readonly maxMessages: number;
  readonly maxInputChars: number;
  readonly maxJsonDepth: number;
  readonly maxN: number;
  readonly maxTokens: number;
  readonly maxTools: number;
}

const setBy = (field: keyof InputLimits): string => ` This gateway's limit is set by gateway.inputLimits.${field}.`;

function tooMany(param: string, got: number, max: number, field: keyof InputLimits): BrokerError {
  return invalid(param, `Invalid '${param}': array too long. Expected an array with maximum length ${max}, but got an array with length ${got} instead.${setBy(field)}`);
}

function aboveMax(param: string, got: number, max: number, field: keyof InputLimits): BrokerError {
  return invalid(param, `Invalid '${param}': integer above maximum value. Expected a value <= ${max}, but got ${got} instead.${setBy(field)}`);
}

function tooLong(param: string, got: number, max: number): BrokerError {
  return invalid(param, `Invalid '${param}': text too long. Expected at most ${max} characters in all, but got ${got} instead.${setBy("maxInputChars")}`);
}

/** The 400 for JSON nested deeper than the limit; `param` null is the request body itself. */
export function tooDeep(param: string | null, maxDepth: number): BrokerError {
  const what = param === null ? "Invalid request body" : `Invalid '${param}'`;
  return invalid(param, `${what}: JSON nested too deeply. Expected at most ${maxDepth} levels of nesting, but got more.${setBy("maxJsonDepth")}`);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** The index of the quote that closes the string opening at `open`; -1 when it never closes. */
function stringEnd(text: string, open: number): number {
  let i = open;
  for (;;) {
    i = text.indexOf('"', i + 1);
    if (i < 0) return -1;
    let b = i - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    // An even run of backslashes escapes itself, not the quote.
    if ((i - b) % 2 === 1) return i;
  }
}

/**
 * One iterative pass over JSON text, before anything parses it: -1 when it
 * nests deeper than `maxDepth` (arrays and objects; brackets in strings do
 * not count), else how many items a top-level array holds (0 for anything
 * else). It stops at the first level too deep, so a 100,000-deep body costs
 * 65 characters. Text that is not JSON gets an answer too; refusing it is
 * the parser's job.
 */
function scanJson(text: string, maxDepth: number): number {
  let depth = 0;
  let items = 0;
  let array = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (depth === 1 && items === 0 && c > 0x20 && c !== CLOSE_ARRAY && c !== CLOSE_OBJECT) items = 1;
    if (c === QUOTE) {
      i = stringEnd(text, i);
      if (i < 0) break;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (depth === 0) array = c === OPEN_ARRAY;
      if (++depth > maxDepth) return -1;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    } else if (c === COMMA && depth === 1) {
      items++;
    }
  }
  return array ? items : 0;
}

/** Whether JSON text nests deeper than `maxDepth`; for a front that reads JSON bodies (checked before JSON.parse). */
export function jsonTooDeep(text: string, maxDepth: number): boolean {
  return scanJson(text, maxDepth) < 0;
}

/** A JSON text field: its top-level array's length; too deep is a 400 naming the field. */
function jsonField(text: string | null | undefined, limits: InputLimits, render: RenderParam, kind: string, field: string): number {
  if (!text) return 0;
  const items = scanJson(text, limits.maxJsonDepth);
  if (items < 0) throw tooDeep(render([kind, field]), limits.maxJsonDepth);
  return items;
}

/** n and max_tokens, which chat and legacy completions share. */
function checkSampling(r: ChatRequest | CompletionRequest, limits: InputLimits, render: RenderParam, kind: string): void {
  const n = r.n ?? 0;
  if (n > limits.maxN) throw aboveMax(render([kind, "n"]), n, limits.maxN, "maxN");
  const maxTokens = r.maxTokens ?? 0;
  if (maxTokens > limits.maxTokens) throw aboveMax(render([kind, "maxTokens"]), maxTokens, limits.maxTokens, "maxTokens");
  jsonField(r.extraJson, limits, render, kind, "extraJson");
}

/** Characters of text in one message (content, text parts, tool-call arguments); JSON in its parts and arguments is checked for depth. */
function messageChars(m: ChatMessage, i: number, limits: InputLimits, render: RenderParam): number {
  let chars = m.content?.length ?? 0;
  const parts = m.parts ?? [];
  for (let j = 0; j < parts.length; j++) {
    const p = parts[j];
    chars += p?.text?.length ?? 0;
    if (p?.rawJson && jsonTooDeep(p.rawJson, limits.maxJsonDepth)) throw tooDeep(render(["chat", "messages", i, "parts", j, "rawJson"]), limits.maxJsonDepth);
  }
  const calls = m.toolCalls ?? [];
  for (let j = 0; j < calls.length; j++) {
    const args = calls[j]?.arguments ?? "";
    chars += args.length;
    // Arguments are JSON in a string: the body's own depth does not see inside them, and engines parse them.
    if (args && jsonTooDeep(args, limits.maxJsonDepth)) throw tooDeep(render(["chat", "messages", i, "toolCalls", j, "arguments"]), limits.maxJsonDepth);
  }
  return chars;
}

/** @throws BrokerError 400 `invalid_request` for the first limit the chat request is over. */
export function checkChatLimits(chat: ChatRequest | null | undefined, limits: InputLimits, render: RenderParam): void {
  if (!chat) return;
  const messages = chat.messages ?? [];
  if (messages.length > limits.maxMessages) throw tooMany(render(["chat", "messages"]), messages.length, limits.maxMessages, "maxMessages");
  checkSampling(chat, limits, render, "chat");
  const tools = jsonField(chat.toolsJson, limits, render, "chat", "toolsJson");
  if (tools > limits.maxTools) throw tooMany(render(["chat", "toolsJson"]), tools, limits.maxTools, "maxTools");
  jsonField(chat.toolChoiceJson, limits, render, "chat", "toolChoiceJson");
  jsonField(chat.responseFormatJson, limits, render, "chat", "responseFormatJson");
  let chars = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (m) chars += messageChars(m, i, limits, render);
  }
  if (chars > limits.maxInputChars) throw tooLong(render(["chat", "messages"]), chars, limits.maxInputChars);
}

/**
 * Prompts count against maxMessages: each is a generation of its own.
 * @throws BrokerError 400 `invalid_request` for the first limit the request is over.
 */
export function checkCompletionLimits(completion: CompletionRequest | null | undefined, limits: InputLimits, render: RenderParam): void {
  if (!completion) return;
  const prompts = completion.prompts ?? [];
  if (prompts.length > limits.maxMessages) throw tooMany(render(["completion", "prompts"]), prompts.length, limits.maxMessages, "maxMessages");
  checkSampling(completion, limits, render, "completion");
  let chars = completion.suffix?.length ?? 0;
  for (const p of prompts) chars += p.length;
  if (chars > limits.maxInputChars) throw tooLong(render(["completion", "prompts"]), chars, limits.maxInputChars);
}

/** @throws BrokerError 400 `invalid_request` for the first limit the request is over. */
export function checkEmbeddingLimits(embedding: EmbeddingRequest | null | undefined, limits: InputLimits, render: RenderParam): void {
  if (!embedding) return;
  jsonField(embedding.extraJson, limits, render, "embedding", "extraJson");
  let chars = 0;
  for (const input of embedding.inputs ?? []) chars += input.length;
  if (chars > limits.maxInputChars) throw tooLong(render(["embedding", "inputs"]), chars, limits.maxInputChars);
}
