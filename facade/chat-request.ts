// POST /v1/chat/completions: the OpenAI request body, validated once, mapped
// onto the protobuf ChatRequest a worker receives.
import { z } from "zod";
import type { ChatMessage, ChatRequest, ContentPart, ToolCall } from "../broker/proto.js";
import { extraJson, integer, invalid, jsonObject, missing, number, oneOf, parseBody, positive, stopSchema, toStop } from "./request-schema.js";

const ROLES = ["system", "developer", "user", "assistant", "tool", "function"] as const;

const textPart = z
  .object({ type: z.literal("text"), text: z.string() })
  .transform((p): ContentPart => ({ type: "text", text: p.text }));
const imagePart = z
  .object({
    type: z.literal("image_url"),
    image_url: z.object({ url: z.string(), detail: oneOf(["auto", "low", "high"]).nullish() }),
  })
  .transform((p): ContentPart => ({ type: "image_url", imageUrl: p.image_url.url, imageDetail: p.image_url.detail ?? "" }));
// Audio, files and part types yet to come reach engines as the client sent them.
const otherPart = z
  .looseObject({ type: z.string().refine((t) => t !== "text" && t !== "image_url") })
  .transform((p): ContentPart => ({ type: p.type, rawJson: JSON.stringify(p) }));

const toolCall = z
  .object({
    id: z.string(),
    type: z.literal("function"),
    function: z.object({ name: z.string(), arguments: z.string() }),
  })
  .transform((c): ToolCall => ({ id: c.id, type: c.type, name: c.function.name, arguments: c.function.arguments }));

const message = z.object(
  {
    role: oneOf(ROLES),
    content: z
      .union([z.string(), z.array(z.union([textPart, imagePart, otherPart], { error: "a content part object with a 'type'" }))], {
        error: "a string or an array of content parts",
      })
      .nullish(),
    name: z.string().nullish(),
    tool_calls: z.array(toolCall).nullish(),
    tool_call_id: z.string().nullish(),
  },
  { error: "a message object" },
);

const functionName = "a name of letters, digits, '_' or '-', at most 64 characters";
const tool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string({ error: functionName }).regex(/^[a-zA-Z0-9_-]{1,64}$/, { error: functionName }),
    description: z.string().nullish(),
    parameters: jsonObject.nullish(),
    strict: z.boolean().nullish(),
  }),
});

const schema = z.looseObject({
  model: z.string({ error: "a non-empty string" }).min(1, { error: "a non-empty string" }),
  messages: z.array(message, { error: "a non-empty array of messages" }).min(1, { error: "a non-empty array of messages" }),
  max_tokens: integer(1, Number.MAX_SAFE_INTEGER, positive),
  max_completion_tokens: integer(1, Number.MAX_SAFE_INTEGER, positive),
  temperature: number(0, 2),
  top_p: number(0, 1),
  n: integer(1, 128, "an integer between 1 and 128"),
  stop: stopSchema,
  seed: z.int({ error: "an integer" }).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  user: z.string().nullish(),
  presence_penalty: number(-2, 2),
  frequency_penalty: number(-2, 2),
  tools: z.array(tool).nullish(),
  tool_choice: z
    .union([oneOf(["none", "auto", "required"]), z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) })], {
      error: `'none', 'auto', 'required' or {"type": "function", "function": {"name": ...}}`,
    })
    .nullish(),
  response_format: z
    .object({
      type: oneOf(["text", "json_object", "json_schema"]),
      json_schema: z
        .object({ name: z.string(), description: z.string().nullish(), schema: jsonObject.nullish(), strict: z.boolean().nullish() })
        .nullish(),
    })
    .nullish(),
});
type Message = z.infer<typeof message>;

const MODELLED = new Set(Object.keys(schema.shape));

/**
 * Validates a chat completions body and maps it onto the job's ChatRequest.
 * Top-level fields the broker does not model travel in `extraJson`; `tools`,
 * `tool_choice` and `response_format` travel as the client's own JSON.
 * @throws BrokerError 400 `invalid_request` naming the field in `param`.
 */
export function parseChatRequest(body: unknown): { model: string; stream: boolean; chat: ChatRequest } {
  const b = parseBody(schema, body);
  const raw = body as Record<string, unknown>;

  if (b.max_tokens != null && b.max_completion_tokens != null) {
    throw invalid("max_tokens", "Only one of 'max_tokens' and 'max_completion_tokens' may be set.");
  }
  const stream = b.stream ?? false;
  if (b.stream_options != null && !stream) {
    throw invalid("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
  }
  if (b.response_format?.type === "json_schema" && b.response_format.json_schema == null) {
    throw missing("response_format.json_schema");
  }

  const chat: ChatRequest = {
    messages: b.messages.map(toMessage),
    n: b.n ?? 1,
    stop: toStop(b.stop),
    stream,
    includeUsage: b.stream_options?.include_usage ?? false,
    user: b.user ?? "",
    toolsJson: b.tools?.length ? JSON.stringify(raw.tools) : "",
    toolChoiceJson: b.tool_choice != null ? JSON.stringify(raw.tool_choice) : "",
    responseFormatJson: b.response_format != null ? JSON.stringify(raw.response_format) : "",
    extraJson: extraJson(raw, MODELLED),
    maxCompletionTokens: b.max_completion_tokens != null,
  };
  const maxTokens = b.max_completion_tokens ?? b.max_tokens;
  if (maxTokens != null) chat.maxTokens = maxTokens;
  if (b.temperature != null) chat.temperature = b.temperature;
  if (b.top_p != null) chat.topP = b.top_p;
  if (b.seed != null) chat.seed = b.seed;
  if (b.presence_penalty != null) chat.presencePenalty = b.presence_penalty;
  if (b.frequency_penalty != null) chat.frequencyPenalty = b.frequency_penalty;
  return { model: b.model, stream, chat };
}

function toMessage(m: Message, i: number): ChatMessage {
  const out: ChatMessage = { role: m.role };
  if (typeof m.content === "string") out.content = m.content;
  else if (m.content != null) out.parts = m.content;
  // Only an assistant turn may leave content out (it called tools instead).
  else if (m.role !== "assistant") throw missing(`messages[${i}].content`);
  if (m.name != null) out.name = m.name;
  else if (m.role === "function") throw missing(`messages[${i}].name`);
  if (m.tool_calls?.length) out.toolCalls = m.tool_calls;
  if (m.tool_call_id != null) out.toolCallId = m.tool_call_id;
  else if (m.role === "tool") throw missing(`messages[${i}].tool_call_id`);
  return out;
}
