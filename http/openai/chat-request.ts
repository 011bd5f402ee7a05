// POST /v1/chat/completions: the OpenAI JSON shape, mapped onto the job's
// ChatRequest, which the core then validates (roles and what each needs).
// Limits come from the core's shared field schemas.
import { z } from "zod";
import type { ChatMessage, ChatRequest, ContentPart, ToolCall } from "../../contract/mod.js";
import { fields, invalid, validateChat, type ChatCall, type InputLimits, type RenderParam, type Valid } from "../../core/mod.js";
import { extraJson, openaiParam, parseBody, samplingJson } from "./request-json.js";

const { maxTokens, oneOf, responseFormatSchema, role, toolChoiceSchema, toolSchema, toStop } = fields;

const textPart = z
  .object({ type: z.literal("text"), text: z.string() })
  .transform((p): ContentPart => ({ type: "text", text: p.text }));
const imagePart = z
  .object({
    type: z.literal("image_url"),
    image_url: z.object({ url: z.string(), detail: oneOf(fields.IMAGE_DETAILS).nullish() }),
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
    role,
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

const schema = z.looseObject({
  ...samplingJson,
  messages: z.array(message, { error: "a non-empty array of messages" }).min(1, { error: "a non-empty array of messages" }),
  max_completion_tokens: maxTokens,
  tools: z.array(toolSchema).nullish(),
  tool_choice: toolChoiceSchema.nullish(),
  response_format: responseFormatSchema.nullish(),
});
type Message = z.infer<typeof message>;

const MODELLED = new Set(Object.keys(schema.shape));

// The job carries one token bound, `maxTokens`; a client that sent
// max_completion_tokens is told about the field it sent.
const completionTokensParam: RenderParam = (path) => {
  const param = openaiParam(path);
  return param === "max_tokens" ? "max_completion_tokens" : param;
};

/**
 * Validates a chat completions body and maps it onto the job's ChatRequest,
 * checked by the core (the gateway's input limits included).
 * Top-level fields the broker does not model travel in `extraJson`; `tools`,
 * `tool_choice` and `response_format` travel as the client's own JSON.
 * @throws BrokerError 400 `invalid_request` naming the field in `param`.
 */
export function parseChatRequest(body: unknown, limits: InputLimits): Valid<ChatCall> & { stream: boolean } {
  const b = parseBody(schema, body);
  const raw = body as Record<string, unknown>;

  if (b.max_tokens != null && b.max_completion_tokens != null) {
    throw invalid("max_tokens", "Only one of 'max_tokens' and 'max_completion_tokens' may be set.");
  }
  const stream = b.stream ?? false;
  if (b.stream_options != null && !stream) {
    throw invalid("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
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
  return { ...validateChat({ model: b.model, chat }, b.max_completion_tokens != null ? completionTokensParam : openaiParam, limits), stream };
}

// What each role needs (content, name, tool_call_id) is the core's check.
function toMessage(m: Message): ChatMessage {
  const out: ChatMessage = { role: m.role };
  if (typeof m.content === "string") out.content = m.content;
  else if (m.content != null) out.parts = m.content;
  if (m.name != null) out.name = m.name;
  if (m.tool_calls?.length) out.toolCalls = m.tool_calls;
  if (m.tool_call_id != null) out.toolCallId = m.tool_call_id;
  return out;
}
