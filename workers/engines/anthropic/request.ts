// The job's chat request as an Anthropic Messages API body.
// https://docs.anthropic.com/en/api/messages
import { BrokerError, type ChatMessage, type ChatRequest, type ContentPart } from "../../../contract/mod.js";
import { extraFields, jobJson, obj, type Json } from "../relay/index.js";

type Turn = { role: "user" | "assistant"; content: Json[] };

/**
 * Extra top-level fields (the client's unmodelled ones) that mean the same to Anthropic; the rest are dropped.
 * `thinking` here is a chat client's; the Messages front's comes as thinkingJson, which wins.
 */
const ANTHROPIC_EXTRA = ["top_k", "thinking"] as const;

/**
 * The upstream body. System and developer messages become `system`, tool
 * messages `tool_result` blocks in a user turn, and consecutive turns of one
 * role merge into one. Fields Anthropic has no equivalent for (seed,
 * presence/frequency penalties, logit_bias...) are left out.
 * @throws BrokerError 400 for what cannot be translated, naming the field.
 */
export function buildBody(chat: ChatRequest, model: string, maxTokensDefault: number): Json {
  const extra = extraFields(chat.extraJson);
  const body: Json = { model, max_tokens: chat.maxTokens ?? maxTokensDefault };
  const { system, messages } = toTurns(chat.messages ?? []);
  if (system.length > 0) body.system = system.join("\n\n");
  body.messages = messages;
  if (chat.stop?.length) body.stop_sequences = chat.stop;
  if (chat.temperature != null) body.temperature = chat.temperature;
  if (chat.topP != null) body.top_p = chat.topP;
  for (const field of ANTHROPIC_EXTRA) if (extra[field] !== undefined) body[field] = extra[field];
  if (chat.thinkingJson) body.thinking = jobJson(chat.thinkingJson, "thinking");
  if (chat.user) body.metadata = { user_id: chat.user };
  if (chat.toolsJson) body.tools = toTools(jobJson(chat.toolsJson, "tools"));
  const choice = toToolChoice(chat.toolChoiceJson ? jobJson(chat.toolChoiceJson, "tool_choice") : undefined, extra.parallel_tool_calls === false);
  if (choice && body.tools) body.tool_choice = choice; // without tools there is nothing to choose
  const output = outputConfig(chat.responseFormatJson);
  if (output) body.output_config = output;
  if (chat.stream) body.stream = true;
  return body;
}

function toTurns(list: ChatMessage[]): { system: string[]; messages: Json[] } {
  const system: string[] = [];
  const turns: Turn[] = [];
  const push = (role: Turn["role"], blocks: Json[]): void => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  list.forEach((m, i) => {
    const at = `messages[${i}]`;
    switch (m.role || "user") {
      case "system":
      case "developer": {
        const text = textOnly(m, at);
        if (text.trim()) system.push(text);
        break;
      }
      case "user":
        push("user", contentBlocks(m, at));
        break;
      case "assistant":
        push("assistant", [
          ...reasoningBlocks(m, at),
          ...contentBlocks(m, at),
          ...(m.toolCalls ?? []).map((c, j) => toolUse(c, `${at}.tool_calls[${j}]`)),
        ]);
        break;
      case "tool":
        push("user", [toolResult(m, at)]);
        break;
      default:
        throw invalid(`${at}.role`, `role '${m.role}' is not supported by the anthropic engine; use 'tool' messages for tool results`);
    }
  });
  // A turn of one text block goes as a plain string, the form Anthropic's own examples use.
  const messages = turns.map(({ role, content }) =>
    content.length === 1 && content[0]!.type === "text" ? { role, content: content[0]!.text } : { role, content });
  return { system, messages };
}

function textOnly(m: ChatMessage, at: string): string {
  if (m.content != null) return m.content;
  return (m.parts ?? []).map((p, j) => {
    if (p.type !== "text") throw invalid(`${at}.content[${j}]`, `a ${m.role} message can only hold text for the anthropic engine`);
    return p.text ?? "";
  }).join("\n");
}

/**
 * The turn's thinking and redacted_thinking blocks, first in its content and byte for byte as the
 * upstream gave them: Anthropic checks their signatures, and requires them back in a tool-use loop.
 */
function reasoningBlocks(m: ChatMessage, at: string): Json[] {
  if (!m.reasoningBlocksJson) return [];
  const blocks = jobJson(m.reasoningBlocksJson, `${at}.reasoning_blocks_json`);
  const list = Array.isArray(blocks) ? blocks.map(obj).filter((b): b is Json => b !== undefined) : [];
  if (!Array.isArray(blocks) || list.length !== blocks.length) throw invalid(`${at}.reasoning_blocks_json`, "must be a JSON array of thinking blocks");
  return list;
}

// Anthropic refuses empty text blocks ("text content blocks must be non-empty"), so blank text is left out.
function contentBlocks(m: ChatMessage, at: string): Json[] {
  if (m.content != null) return m.content.trim() ? [{ type: "text", text: m.content }] : [];
  return (m.parts ?? []).flatMap((p, j) => toBlock(p, `${at}.content[${j}]`));
}

function toBlock(p: ContentPart, at: string): Json[] {
  if (p.type === "text" || (!p.type && !p.rawJson)) return (p.text ?? "").trim() ? [{ type: "text", text: p.text }] : [];
  if (p.type === "image_url") return [{ type: "image", source: imageSource(p.imageUrl ?? "", at) }];
  throw invalid(at, `content part type '${p.type}' is not supported by the anthropic engine`);
}

/** `data:<media>;base64,<data>` → a base64 source; http(s) URLs → a url source. */
export function imageSource(url: string, at: string): Json {
  if (url.startsWith("data:")) {
    const m = /^data:([^;,]+)(?:;[^;,]*)*;base64,(.*)$/s.exec(url);
    if (!m) throw invalid(`${at}.image_url.url`, "an image data URL must be base64: data:<media type>;base64,<data>");
    return { type: "base64", media_type: m[1]!.toLowerCase(), data: m[2]! };
  }
  if (/^https?:\/\//i.test(url)) return { type: "url", url };
  throw invalid(`${at}.image_url.url`, "an image must be an http(s) URL or a base64 data URL");
}

function toolUse(c: NonNullable<ChatMessage["toolCalls"]>[number], at: string): Json {
  const args = c.arguments?.trim() ? jobJson(c.arguments, `${at}.function.arguments`) : {};
  if (!obj(args)) throw invalid(`${at}.function.arguments`, "tool call arguments must be a JSON object for the anthropic engine");
  return { type: "tool_use", id: c.id ?? "", name: c.name ?? "", input: args };
}

function toolResult(m: ChatMessage, at: string): Json {
  const block: Json = { type: "tool_result", tool_use_id: m.toolCallId ?? "" };
  if (m.content != null) {
    if (m.content !== "") block.content = m.content;
  } else if (m.parts?.length) {
    block.content = m.parts.flatMap((p, j) => toBlock(p, `${at}.content[${j}]`));
  }
  return block;
}

function toTools(v: unknown): Json[] {
  if (!Array.isArray(v)) throw invalid("tools", "tools must be an array");
  return v.map((t, i) => {
    const fn = obj(obj(t)?.function);
    if (obj(t)?.type !== "function" || !fn) throw invalid(`tools[${i}]`, "the anthropic engine supports function tools only");
    const tool: Json = { name: fn.name };
    if (typeof fn.description === "string") tool.description = fn.description;
    tool.input_schema = obj(fn.parameters) ?? { type: "object", properties: {} };
    return tool;
  });
}

/** auto → auto, required → any, none → none, a named function → tool. */
function toToolChoice(v: unknown, noParallel: boolean): Json | undefined {
  let choice: Json | undefined;
  if (v === "auto") choice = { type: "auto" };
  else if (v === "required") choice = { type: "any" };
  else if (v === "none") return { type: "none" };
  else if (v !== undefined) {
    const name = obj(obj(v)?.function)?.name;
    if (typeof name !== "string") throw invalid("tool_choice", `'none', 'auto', 'required' or {"type": "function", "function": {"name": ...}}`);
    choice = { type: "tool", name };
  }
  if (noParallel) (choice ??= { type: "auto" }).disable_parallel_tool_use = true;
  return choice;
}

/**
 * A JSON schema format as Anthropic's structured outputs (output_config.format).
 * Anthropic has no schema-less JSON mode: refusing json_object is honest, ignoring it would not be.
 */
function outputConfig(json: string | null | undefined): Json | undefined {
  if (!json) return undefined;
  const format = obj(jobJson(json, "response_format"));
  if (format?.type === "text") return undefined;
  const schema = obj(obj(format?.json_schema)?.schema);
  if (format?.type === "json_schema" && schema) return { format: { type: "json_schema", schema } };
  throw invalid("response_format", `response_format '${String(format?.type)}' is not supported by the anthropic engine`);
}

function invalid(param: string, message: string): BrokerError {
  return new BrokerError("invalid_request", `${param}: ${message}`, { param });
}
