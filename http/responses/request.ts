// POST /v1/responses: the Responses body, checked with zod (params named as
// the body names them), mapped onto the same canonical ChatRequest the chat
// route submits, which the core validates again (roles, input limits).
// https://platform.openai.com/docs/api-reference/responses/create
import { z } from "zod";
import type { ChatMessage, ChatRequest } from "../../contract/mod.js";
import { check, fields, invalid, jsonParam, validateChat, type ChatCall, type Path, type Valid } from "../../core/mod.js";
import { extraJson } from "../openai/request-json.js";
import { inputSchema, toMessages, type Input } from "./input.js";
import type { Echo, FunctionTool, TextFormat, ToolChoice } from "./response-object.js";

/**
 * Fields no engine here can honour, accepted and dropped so clients that
 * always send them (Codex, the Agents SDK) work. Unlike unknown fields, they
 * do not reach engines: their meaning is the Responses API's, not chat's.
 */
export const IGNORED_FIELDS = [
  "reasoning", "include", "truncation", "prompt_cache_key", "safety_identifier", "service_tier",
  "stream_options", "top_logprobs", "prompt", "max_tool_calls",
] as const;

const functionName = "a name of letters, digits, '_' or '-', at most 64 characters";
const functionTool = z.object({
  type: z.literal("function"),
  name: z.string({ error: functionName }).regex(/^[a-zA-Z0-9_-]{1,64}$/, { error: functionName }),
  description: z.string().nullish(),
  parameters: fields.jsonObject.nullish(),
  strict: z.boolean().nullish(),
});
// web_search, file_search, mcp, custom…: hosted tools, refused by type below.
const otherTool = z.looseObject({ type: z.string().refine((t) => t !== "function", { abort: true }) });

const toolChoice = z.union([
  fields.oneOf(["none", "auto", "required"]),
  z.object({ type: z.literal("function"), name: z.string() }),
  z.looseObject({ type: z.string().refine((t) => t !== "function", { abort: true }) }),
], { error: `'none', 'auto', 'required' or {"type": "function", "name": ...}` });

const format = z.union([
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    name: z.string({ error: fields.nonEmpty }).min(1, { error: fields.nonEmpty }),
    schema: fields.jsonObject,
    description: z.string().nullish(),
    strict: z.boolean().nullish(),
  }),
], { error: "an object whose 'type' is 'text', 'json_object' or 'json_schema'" });

const metadata = z
  .record(z.string().max(64, { error: "keys of at most 64 characters" }), z.string({ error: "string values" }).max(512, { error: "values of at most 512 characters" }), { error: "an object of strings" })
  .refine((m) => Object.keys(m).length <= 16, { error: "at most 16 pairs" });

const schema = z.looseObject({
  model: fields.modelName,
  input: inputSchema.nullish(),
  instructions: z.string().nullish(),
  max_output_tokens: fields.maxTokens,
  temperature: fields.temperature,
  top_p: fields.topP,
  tools: z.array(z.union([functionTool, otherTool], { error: "a tool object with a 'type'" })).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  text: z.object({ format: format.nullish(), verbosity: z.string().nullish() }).nullish(),
  metadata: metadata.nullish(),
  store: z.boolean().nullish(),
  previous_response_id: z.string().min(1, { error: fields.nonEmpty }).nullish(),
  user: z.string().nullish(),
  stream: z.boolean().nullish(),
  background: z.boolean().nullish(),
});
type Body = z.infer<typeof schema>;
// parallel_tool_calls is checked here and then travels in extra_json: chat names it alike, and the
// job has no field of its own for it, so the OpenAI-compatible engines pass it on.
const MODELLED: ReadonlySet<string> = new Set([...Object.keys(schema.shape), ...IGNORED_FIELDS].filter((k) => k !== "parallel_tool_calls"));

/** A checked Responses request, before the conversation it continues is known. */
export interface ResponsesRequest {
  model: string;
  input: Input | null | undefined;
  /** This turn's input as canonical messages (without instructions), and where each came from. */
  turn: ChatMessage[];
  origin: string[];
  stream: boolean;
  background: boolean;
  previousResponseId: string | undefined;
  echo: Echo;
  /** The ChatRequest's fields that do not depend on the conversation. */
  chat: Omit<ChatRequest, "messages">;
}

/**
 * Checks a Responses body; the job's messages come later (toChatCall), once
 * a previous response's conversation is loaded.
 * @throws BrokerError 400 `invalid_request` naming the field in `param`.
 */
export function parseResponsesRequest(body: unknown): ResponsesRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalid(null, "The request body must be a JSON object.");
  const raw = body as Record<string, unknown>;
  // The Conversations API keeps state this gateway has not got; previous_response_id is the way here.
  if (raw.conversation != null) throw invalid("conversation", "'conversation' is not supported by this gateway; continue a conversation with 'previous_response_id'.");
  const b = check(schema, body, jsonParam);
  const tools = (b.tools ?? []).map((t, i): FunctionTool => {
    if (!isFunctionTool(t)) throw invalid(`tools[${i}].type`, `Tools of type '${t.type}' are not supported by this gateway; only 'function' tools are.`);
    return { type: "function", name: t.name, description: t.description ?? null, parameters: t.parameters ?? null, strict: t.strict ?? null };
  });
  const choice = toolChoiceOf(b.tool_choice);
  const textFormat = formatOf(b.text?.format);
  const { messages: turn, origin } = toMessages(b.input);

  const chat: Omit<ChatRequest, "messages"> = {
    n: 1,
    stop: [],
    stream: b.stream ?? false,
    includeUsage: false,
    user: b.user ?? "",
    toolsJson: tools.length ? JSON.stringify(tools.map(chatTool)) : "",
    toolChoiceJson: b.tool_choice != null ? JSON.stringify(typeof choice === "string" ? choice : { type: "function", function: { name: choice.name } }) : "",
    responseFormatJson: b.text?.format != null ? JSON.stringify(responseFormat(textFormat)) : "",
    extraJson: extraJson(raw, MODELLED),
  };
  if (b.max_output_tokens != null) chat.maxTokens = b.max_output_tokens;
  if (b.temperature != null) chat.temperature = b.temperature;
  if (b.top_p != null) chat.topP = b.top_p;

  const echo: Echo = {
    instructions: b.instructions ?? null,
    max_output_tokens: b.max_output_tokens ?? null,
    parallel_tool_calls: b.parallel_tool_calls ?? true,
    previous_response_id: b.previous_response_id ?? null,
    store: b.store ?? true,
    temperature: b.temperature ?? null,
    text: { format: textFormat },
    tool_choice: choice,
    tools,
    top_p: b.top_p ?? null,
    user: b.user ?? null,
    metadata: b.metadata ?? {},
  };
  // As OpenAI requires: a background response is read back later, so it must be kept.
  if (b.background && !echo.store) throw invalid("store", "Background responses must be stored: send store true (the default) with background true.");
  return {
    model: b.model, input: b.input, turn, origin, stream: b.stream ?? false, background: b.background ?? false,
    previousResponseId: b.previous_response_id ?? undefined, echo, chat,
  };
}

/**
 * The job's chat call: instructions (this request's only: OpenAI does not
 * carry them over), the earlier conversation, then this turn's input.
 * @throws BrokerError 400 from the core's checks, naming the body's field.
 */
export function toChatCall(r: ResponsesRequest, history: readonly ChatMessage[], limits: Parameters<typeof validateChat>[2]): Valid<ChatCall> {
  const messages: ChatMessage[] = [];
  const origin: string[] = [];
  if (r.echo.instructions != null) {
    messages.push({ role: "system", content: r.echo.instructions });
    origin.push("instructions");
  }
  for (const m of history) {
    messages.push(m);
    origin.push("previous_response_id");
  }
  messages.push(...r.turn);
  origin.push(...r.origin);
  return validateChat({ model: r.model, chat: { ...r.chat, messages } }, (path) => responsesParam(path, origin), limits);
}

// The job's field names as the Responses body names them.
const RENAMED: Readonly<Record<string, string>> = {
  maxTokens: "max_output_tokens",
  topP: "top_p",
  toolsJson: "tools",
  toolChoiceJson: "tool_choice",
  responseFormatJson: "text.format",
};
// Inside a message: the item's own names (a function_call_output's `call_id`, a message's `content`).
const INNER: Readonly<Record<string, string>> = { parts: "content", toolCallId: "call_id" };

/** A canonical path as the Responses body names it: the job's `chat.messages[2].content` is, say, `input[1].content`. */
export function responsesParam(path: Path, origin: readonly string[]): string {
  const [kind, field, index, ...rest] = path;
  if (kind !== "chat") return jsonParam(path);
  if (typeof field !== "string") return "input";
  if (field !== "messages") return RENAMED[field] ?? field;
  if (typeof index !== "number") return "input";
  const from = origin[index] ?? "input";
  if (!from.startsWith("input[")) return from;
  // A tool call is its own function_call item in the body: `toolCalls[0].arguments` reads `arguments`.
  const inner = rest.filter((k, i) => k !== "toolCalls" && rest[i - 1] !== "toolCalls").map((k) => (typeof k === "string" ? (INNER[k] ?? k) : k));
  return jsonParam([from, ...inner]);
}

function isFunctionTool(t: NonNullable<Body["tools"]>[number]): t is z.infer<typeof functionTool> {
  return t.type === "function";
}

function toolChoiceOf(c: Body["tool_choice"]): ToolChoice {
  if (c == null) return "auto";
  if (typeof c === "string") return c;
  if (c.type === "function" && typeof c.name === "string") return { type: "function", name: c.name };
  throw invalid("tool_choice.type", `A tool_choice of type '${c.type}' is not supported by this gateway; only 'function' tools are.`);
}

function formatOf(f: NonNullable<Body["text"]>["format"]): TextFormat {
  if (f == null || f.type === "text") return { type: "text" };
  if (f.type === "json_object") return { type: "json_object" };
  return { type: "json_schema", name: f.name, schema: f.schema, ...(f.description != null ? { description: f.description } : {}), strict: f.strict ?? null };
}

// Chat's tool shape: the same fields one level down; strict only when the client set it.
function chatTool(t: FunctionTool): unknown {
  const fn: Record<string, unknown> = { name: t.name };
  if (t.description != null) fn.description = t.description;
  if (t.parameters != null) fn.parameters = t.parameters;
  if (t.strict != null) fn.strict = t.strict;
  return { type: "function", function: fn };
}

// Chat's response_format for a Responses text.format.
function responseFormat(f: TextFormat): unknown {
  if (f.type !== "json_schema") return { type: f.type };
  const js: Record<string, unknown> = { name: f.name, schema: f.schema };
  if (f.description != null) js.description = f.description;
  if (f.strict != null) js.strict = f.strict;
  return { type: "json_schema", json_schema: js };
}
