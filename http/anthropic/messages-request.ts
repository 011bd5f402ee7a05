// POST /v1/messages: Anthropic's Messages request, mapped onto the same
// canonical ChatRequest the OpenAI chat route submits, which the core then
// validates. Content blocks map in content-blocks.ts, tools in tools.ts.
// https://docs.anthropic.com/en/api/messages
import { z } from "zod";
import type { ChatRequest } from "../../contract/mod.js";
import { check, fields, invalid, validateChat, type ChatCall, type InputLimits, type Path, type Valid } from "../../core/mod.js";
import { assistantMessage, systemMessage, userMessages, type Mapped } from "./content-blocks.js";
import { jobTools, refuseServerTools, toolChoiceSchema, toolSchema } from "./tools.js";

const { maxTokens, modelName, number } = fields;

// Fields that would change the answer in ways no engine here can honour:
// refused by name rather than answered as if they were not there.
const REFUSED: Readonly<Record<string, string>> = {
  mcp_servers: "MCP servers run on Anthropic's side",
  container: "containers (code execution, skills) run on Anthropic's side",
};

// Documented fields no engine here can honour whose absence leaves the answer
// correct, accepted and ignored so that Claude Code and the SDKs keep working:
// automatic context editing (the context is only larger), top-level prompt
// caching and its diagnostics, and where and how fast Anthropic runs inference
// (here the operator's workers decide).
const IGNORED = ["context_management", "cache_control", "diagnostics", "inference_geo", "speed"] as const;

// Extended thinking: carried to the engine (the anthropic engine sends it upstream; engines that cannot
// think ignore it). Loose objects: a field Anthropic adds later is the upstream's to judge.
// https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking
const display = z.enum(["summarized", "omitted"], { error: "'summarized' or 'omitted'" }).optional();
const thinking = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("enabled"), budget_tokens: z.int({ error: "an integer" }).min(1024, { error: "an integer of at least 1024" }), display }),
  z.looseObject({ type: z.literal("adaptive"), display }),
  z.looseObject({ type: z.literal("disabled") }),
], { error: "an object whose 'type' is 'enabled', 'adaptive' or 'disabled'" });

const block = z.looseObject({ type: z.string({ error: "a string" }) }, { error: "a content block object with a 'type'" });
const content = z.union([z.string(), z.array(block)], { error: "a string or an array of content blocks" });

const message = z.object(
  { role: z.enum(["user", "assistant"], { error: "'user' or 'assistant'" }), content },
  { error: "a message object" },
);

const schema = z.object({
  model: modelName,
  max_tokens: maxTokens,
  messages: z.array(message, { error: "a non-empty array of messages" }).min(1, { error: "a non-empty array of messages" }),
  system: content.nullish(),
  stop_sequences: z.array(z.string(), { error: "an array of strings" }).nullish(),
  // Anthropic's ranges, narrower than OpenAI's (temperature 0–1).
  temperature: number(0, 1),
  top_p: number(0, 1),
  // The job has no top_k (OpenAI has none): it travels among the extra fields, to engines that take it.
  top_k: z.int({ error: "a non-negative integer" }).min(0, { error: "a non-negative integer" }).nullish(),
  metadata: z.object({ user_id: z.string({ error: "a string" }).nullish() }, { error: "an object" }).nullish(),
  // A routing hint for Anthropic's own capacity tiers; nothing to choose between here.
  service_tier: z.string().nullish(),
  stream: z.boolean({ error: "a boolean" }).nullish(),
  tools: z.array(toolSchema, { error: "an array of tools" }).nullish(),
  tool_choice: toolChoiceSchema.nullish(),
  thinking: thinking.nullish(),
  output_config: z.object({
    // Structured outputs: the job's response_format json_schema, which engines enforce (llama.cpp by grammar).
    format: z.object({ type: z.literal("json_schema"), schema: z.record(z.string(), z.unknown(), { error: "a JSON schema object" }) }).nullish(),
    // How hard a reasoning model thinks: nothing here reasons on request, so accepted and ignored.
    effort: z.string({ error: "a string" }).nullish(),
    task_budget: z.unknown().optional(),
  }, { error: "an object" }).nullish(),
});
// Anthropic refuses fields it does not know; so does this front, rather than ignore them.
const KNOWN: ReadonlySet<string> = new Set([...Object.keys(schema.shape), ...IGNORED]);

/** A path as Anthropic names a field in its errors: `messages.0.content`. */
const dotted = (path: Path): string => path.map(String).join(".");

/**
 * Validates a Messages body and maps it onto the job's ChatRequest, checked
 * by the core (the gateway's input limits included).
 * @throws BrokerError 400 `invalid_request` naming the field in `param`.
 */
export function parseMessagesRequest(body: unknown, limits: InputLimits): Valid<ChatCall> & { stream: boolean } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid(null, "The request body must be a JSON object.");
  }
  const raw = body as Record<string, unknown>;
  for (const key of Object.keys(REFUSED)) {
    if (raw[key] != null) throw invalid(key, `'${key}' is not supported by this gateway: ${REFUSED[key]}.`);
  }
  // Anthropic's own words for a missing required field.
  for (const key of ["model", "max_tokens", "messages"]) {
    if (raw[key] == null) throw invalid(key, `${key}: Field required`);
  }
  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key)) throw invalid(key, `${key}: Extra inputs are not permitted`);
  }
  refuseServerTools(raw.tools);
  const b = check(schema, body, dotted);
  const mapped: Mapped[] = [];
  if (b.system != null) mapped.push({ message: systemMessage(b.system), origin: "system" });
  b.messages.forEach((m, i) => {
    if (m.role === "user") mapped.push(...userMessages(m.content, `messages.${i}.content`));
    else mapped.push({ message: assistantMessage(m.content, `messages.${i}.content`), origin: `messages.${i}` });
  });
  const tools = jobTools(b.tools, b.tool_choice);
  const extra: Record<string, unknown> = {};
  if (b.top_k != null) extra.top_k = b.top_k;
  if (tools.parallelToolCalls === false) extra.parallel_tool_calls = false;

  const stream = b.stream ?? false;
  const chat: ChatRequest = {
    messages: mapped.map((m) => m.message),
    n: 1,
    stop: fields.toStop(b.stop_sequences),
    stream,
    includeUsage: false,
    user: b.metadata?.user_id ?? "",
    toolsJson: tools.toolsJson,
    toolChoiceJson: tools.toolChoiceJson,
    responseFormatJson: responseFormat(b.output_config?.format),
    extraJson: Object.keys(extra).length > 0 ? JSON.stringify(extra) : "",
    maxTokens: b.max_tokens,
    thinkingJson: b.thinking ? JSON.stringify(b.thinking) : "",
  };
  if (b.temperature != null) chat.temperature = b.temperature;
  if (b.top_p != null) chat.topP = b.top_p;
  const origins = mapped.map((m) => m.origin);
  return { ...validateChat({ model: b.model, chat }, (path) => anthropicParam(path, origins), limits), stream };
}

// Anthropic's structured outputs as OpenAI's strict json_schema response format, the job's form.
function responseFormat(format: { schema: Record<string, unknown> } | null | undefined): string {
  return format ? JSON.stringify({ type: "json_schema", json_schema: { name: "output", schema: format.schema, strict: true } }) : "";
}

// The job's field names as the Messages body names them.
const RENAMED: Readonly<Record<string, string>> = {
  maxTokens: "max_tokens",
  stop: "stop_sequences",
  topP: "top_p",
  parts: "content",
  content: "content",
  user: "metadata.user_id",
  toolCalls: "content",
  toolCallId: "tool_use_id",
  toolsJson: "tools",
  toolChoiceJson: "tool_choice",
  responseFormatJson: "output_config.format",
};

/**
 * A canonical path as the Messages body names it. `origins[i]` is where the
 * job's `messages[i]` came from (the system prompt is the job's first
 * message; a tool result is a message of its own).
 */
export function anthropicParam(path: Path, origins: readonly string[]): string {
  const [kind, field, index, ...rest] = path;
  if (kind !== "chat") return dotted(path);
  const name = (k: PropertyKey): string => (typeof k === "string" ? (RENAMED[k] ?? k) : String(k));
  if (field !== "messages" || typeof index !== "number") return [field, index, ...rest].filter((k) => k !== undefined).map(name).join(".");
  const origin = origins[index] ?? `messages.${index}`;
  // The system prompt's content is the body's `system` itself.
  const tail = origin === "system" && (rest[0] === "content" || rest[0] === "parts") ? rest.slice(1) : rest;
  return [origin, ...tail.map(name)].join(".");
}
