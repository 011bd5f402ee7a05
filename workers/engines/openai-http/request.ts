// The job's chat request, back in OpenAI's JSON shape for the upstream.
import type { ChatMessage, ChatRequest, CompletionRequest, ContentPart, EmbeddingRequest } from "../../../contract/mod.js";
import { extraFields, jobJson } from "../relay/index.js";

/**
 * The upstream request body. Fields the broker does not model (extraJson)
 * pass through; the fields it models win over them.
 */
export function buildBody(chat: ChatRequest, model: string, streamUsage: boolean): Record<string, unknown> {
  const body = withExtra(chat.extraJson, model);
  body.messages = (chat.messages ?? []).map(toMessage);
  if (chat.maxTokens != null) body[chat.maxCompletionTokens ? "max_completion_tokens" : "max_tokens"] = chat.maxTokens;
  if (chat.temperature != null) body.temperature = chat.temperature;
  if (chat.topP != null) body.top_p = chat.topP;
  if ((chat.n ?? 0) > 1) body.n = chat.n;
  if (chat.stop?.length) body.stop = chat.stop;
  if (chat.seed != null) body.seed = chat.seed;
  if (chat.user) body.user = chat.user;
  if (chat.presencePenalty != null) body.presence_penalty = chat.presencePenalty;
  if (chat.frequencyPenalty != null) body.frequency_penalty = chat.frequencyPenalty;
  if (chat.toolsJson) body.tools = jobJson(chat.toolsJson, "tools");
  if (chat.toolChoiceJson) body.tool_choice = jobJson(chat.toolChoiceJson, "tool_choice");
  if (chat.responseFormatJson) body.response_format = jobJson(chat.responseFormatJson, "response_format");
  if (chat.stream) {
    body.stream = true;
    // Usage arrives only when asked for; the engine needs it whether or not the client does.
    if (streamUsage) body.stream_options = { include_usage: true };
  }
  return body;
}

/** The legacy completions body; the same pass-through rule as chat. */
export function buildCompletionBody(c: CompletionRequest, model: string, streamUsage: boolean): Record<string, unknown> {
  const body = withExtra(c.extraJson, model);
  const prompts = c.prompts ?? [];
  body.prompt = prompts.length === 1 ? prompts[0] : prompts;
  if (c.maxTokens != null) body.max_tokens = c.maxTokens;
  if (c.temperature != null) body.temperature = c.temperature;
  if (c.topP != null) body.top_p = c.topP;
  if ((c.n ?? 0) > 1) body.n = c.n;
  if (c.stop?.length) body.stop = c.stop;
  if (c.seed != null) body.seed = c.seed;
  if (c.echo) body.echo = true;
  if (c.suffix) body.suffix = c.suffix;
  if (c.user) body.user = c.user;
  if (c.presencePenalty != null) body.presence_penalty = c.presencePenalty;
  if (c.frequencyPenalty != null) body.frequency_penalty = c.frequencyPenalty;
  if (c.stream) {
    body.stream = true;
    if (streamUsage) body.stream_options = { include_usage: true };
  }
  return body;
}

/** The embeddings body: always float vectors upstream; the facade encodes base64 itself. */
export function buildEmbeddingBody(e: EmbeddingRequest, model: string): Record<string, unknown> {
  const body = withExtra(e.extraJson, model);
  body.input = e.inputs ?? [];
  body.encoding_format = "float";
  if (e.dimensions) body.dimensions = e.dimensions;
  if (e.user) body.user = e.user;
  return body;
}

function withExtra(extraJson: string | null | undefined, model: string): Record<string, unknown> {
  return { ...extraFields(extraJson), model };
}

function toMessage(m: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role || "user" };
  if (m.content != null) out.content = m.content;
  else if (m.parts?.length) out.content = m.parts.map(toPart);
  else out.content = null; // an assistant turn that only called tools
  if (m.name) out.name = m.name;
  if (m.toolCalls?.length) {
    out.tool_calls = m.toolCalls.map((c) => ({
      id: c.id ?? "",
      type: c.type || "function",
      function: { name: c.name ?? "", arguments: c.arguments ?? "" },
    }));
  }
  if (m.toolCallId) out.tool_call_id = m.toolCallId;
  return out;
}

function toPart(p: ContentPart): unknown {
  if (p.rawJson) return jobJson(p.rawJson, "messages");
  if (p.type === "image_url") {
    return { type: "image_url", image_url: p.imageDetail ? { url: p.imageUrl ?? "", detail: p.imageDetail } : { url: p.imageUrl ?? "" } };
  }
  return { type: p.type || "text", text: p.text ?? "" };
}
