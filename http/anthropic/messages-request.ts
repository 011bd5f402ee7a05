// POST /v1/messages: Anthropic's Messages request, mapped onto the same
// canonical ChatRequest the OpenAI chat route submits, which the core then
// validates. This slice speaks text only: tools, images and the other block
// types are refused with a 400 rather than dropped.
// https://docs.anthropic.com/en/api/messages
import { z } from "zod";
import type { ChatMessage, ChatRequest, ContentPart } from "../../contract/mod.js";
import { check, fields, invalid, validateChat, type ChatCall, type InputLimits, type Path, type Valid } from "../../core/mod.js";

const { maxTokens, modelName, number } = fields;

// Fields of Anthropic's request this gateway cannot honour yet: named, so a
// client learns why rather than getting an answer that ignored them.
const NOT_YET: Readonly<Record<string, string>> = {
  tools: "tool use",
  tool_choice: "tool use",
  thinking: "extended thinking",
  mcp_servers: "MCP servers",
  container: "containers",
  context_management: "context management",
};

// cache_control is a caching hint with nothing to cache here; accepted and ignored.
const textBlock = z.object({ type: z.literal("text"), text: z.string({ error: "a string" }), cache_control: z.unknown().optional() });
// Any other block (image, document, tool_use, tool_result, thinking…): refused by type below.
const otherBlock = z.looseObject({ type: z.string().refine((t) => t !== "text") });
const blocks = z.array(z.union([textBlock, otherBlock], { error: "a content block object with a 'type'" }));
const content = z.union([z.string(), blocks], { error: "a string or an array of content blocks" });

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
  // The canonical job has no top_k (OpenAI has none), so it is checked and then ignored.
  top_k: z.int({ error: "a non-negative integer" }).min(0, { error: "a non-negative integer" }).nullish(),
  metadata: z.object({ user_id: z.string({ error: "a string" }).nullish() }, { error: "an object" }).nullish(),
  // A routing hint for Anthropic's own capacity tiers; nothing to choose between here.
  service_tier: z.string().nullish(),
  stream: z.boolean({ error: "a boolean" }).nullish(),
});
// Anthropic refuses fields it does not know; so does this front, rather than ignore them.
const KNOWN: ReadonlySet<string> = new Set(Object.keys(schema.shape));
type Content = z.infer<typeof content>;

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
  for (const key of Object.keys(NOT_YET)) {
    if (raw[key] != null) throw notYet(key, `'${key}' is not supported by this gateway yet (${NOT_YET[key]}).`);
  }
  // Anthropic's own words for a missing required field.
  for (const key of ["model", "max_tokens", "messages"]) {
    if (raw[key] == null) throw invalid(key, `${key}: Field required`);
  }
  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key)) throw invalid(key, `${key}: Extra inputs are not permitted`);
  }
  const b = check(schema, body, dotted);
  const hasSystem = b.system != null;
  const messages: ChatMessage[] = [];
  if (b.system != null) messages.push({ role: "system", ...toContent(b.system, "system") });
  b.messages.forEach((m, i) => messages.push({ role: m.role, ...toContent(m.content, `messages.${i}.content`) }));

  const stream = b.stream ?? false;
  const chat: ChatRequest = {
    messages,
    n: 1,
    stop: fields.toStop(b.stop_sequences),
    stream,
    includeUsage: false,
    user: b.metadata?.user_id ?? "",
    toolsJson: "",
    toolChoiceJson: "",
    responseFormatJson: "",
    extraJson: "",
    maxTokens: b.max_tokens,
  };
  if (b.temperature != null) chat.temperature = b.temperature;
  if (b.top_p != null) chat.topP = b.top_p;
  return { ...validateChat({ model: b.model, chat }, (path) => anthropicParam(path, hasSystem), limits), stream };
}

function notYet(param: string, message: string): ReturnType<typeof invalid> {
  return invalid(param, `${message} This slice of the Messages API accepts text only.`);
}

// Text blocks become the job's text parts; any other block type is refused by name.
function toContent(c: Content, param: string): Partial<Pick<ChatMessage, "content" | "parts">> {
  if (typeof c === "string") return { content: c };
  const parts: ContentPart[] = c.map((block, j) => {
    if (block.type !== "text" || typeof block.text !== "string") {
      throw notYet(`${param}.${j}.type`, `Content blocks of type '${block.type}' are not supported by this gateway yet.`);
    }
    return { type: "text", text: block.text };
  });
  return { parts };
}

// The job's field names as the Messages body names them.
const RENAMED: Readonly<Record<string, string>> = {
  maxTokens: "max_tokens",
  stop: "stop_sequences",
  topP: "top_p",
  parts: "content",
  content: "content",
  user: "metadata.user_id",
};

/**
 * A canonical path as the Messages body names it. A system prompt is the
 * job's first message, so the job's `messages[i]` is the body's `messages.(i-1)`.
 */
export function anthropicParam(path: Path, hasSystem: boolean): string {
  const [kind, field, index, ...rest] = path;
  if (kind !== "chat") return dotted(path);
  const name = (k: PropertyKey): string => (typeof k === "string" ? (RENAMED[k] ?? k) : String(k));
  if (field !== "messages" || typeof index !== "number") return [field, index, ...rest].filter((k) => k !== undefined).map(name).join(".");
  if (!hasSystem) return ["messages", index, ...rest].map(name).join(".");
  if (index > 0) return ["messages", index - 1, ...rest].map(name).join(".");
  // The system prompt's content is the body's `system` itself.
  return ["system", ...rest.slice(rest[0] === "content" || rest[0] === "parts" ? 1 : 0)].map(name).join(".");
}
