// A Messages body's content blocks as the canonical job's chat messages:
// text and images become parts, an assistant's tool_use blocks its tool
// calls, and a user's tool_result blocks tool messages of their own (the
// job's form, OpenAI's), which go before the rest of that user turn, as
// Anthropic requires tool results to lead it. Thinking and redacted_thinking
// blocks in an assistant's history travel as they are (reasoning_blocks_json),
// for the anthropic engine to send back unchanged; other engines ignore them.
// https://docs.anthropic.com/en/api/messages
import { z } from "zod";
import type { ChatMessage, ContentPart, ToolCall } from "../../contract/mod.js";
import { check, invalid, type Path } from "../../core/mod.js";

// cache_control is a caching hint with nothing to cache here; accepted and ignored wherever Anthropic allows it.
const cached = { cache_control: z.unknown().optional() };
const str = { error: "a string" };
const textBlock = z.object({ type: z.literal("text"), text: z.string(str), citations: z.unknown().optional(), ...cached });
const imageSource = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("base64"),
    media_type: z.enum(["image/jpeg", "image/png", "image/gif", "image/webp"], { error: "one of 'image/jpeg', 'image/png', 'image/gif', 'image/webp'" }),
    data: z.string(str),
  }),
  z.object({ type: z.literal("url"), url: z.string(str) }),
], { error: "an image source of type 'base64' or 'url'" });
const imageBlock = z.object({ type: z.literal("image"), source: imageSource, ...cached });
const toolUseBlock = z.object({
  type: z.literal("tool_use"),
  id: z.string(str).min(1, { error: "a non-empty string" }),
  name: z.string(str).min(1, { error: "a non-empty string" }),
  input: z.record(z.string(), z.unknown(), { error: "an object" }),
  ...cached,
});
const thinkingBlock = z.looseObject({ type: z.literal("thinking"), thinking: z.string(str), signature: z.string(str), ...cached });
const redactedThinkingBlock = z.looseObject({ type: z.literal("redacted_thinking"), data: z.string(str), ...cached });
const resultContent = z.array(z.looseObject({ type: z.string() }), { error: "a string or an array of text and image blocks" });
const toolResultBlock = z.object({
  type: z.literal("tool_result"),
  tool_use_id: z.string(str).min(1, { error: "a non-empty string" }),
  content: z.union([z.string(), resultContent], { error: "a string or an array of text and image blocks" }).optional(),
  is_error: z.boolean({ error: "a boolean" }).optional(),
  ...cached,
});

/** A block as the body has it: its type checked, the rest by its own schema below. */
export type Block = { type: string } & Record<string, unknown>;

/** A canonical message and where in the body it came from, for error params. */
export interface Mapped {
  message: ChatMessage;
  /** The body path its fields hang off: `messages.2`, or `messages.2.content.0` for a tool result. */
  origin: string;
}

const under = (at: string) => (path: Path): string => [at, ...path.map(String)].join(".");

/** Text and image blocks as the job's parts; any other type is refused where it stands. */
function part(block: Block, at: string): ContentPart {
  switch (block.type) {
    case "text":
      return { type: "text", text: check(textBlock, block, under(at)).text };
    case "image": {
      const { source } = check(imageBlock, block, under(at));
      // The job carries images as OpenAI does, a URL; base64 data travels as a data: URL.
      return { type: "image_url", imageUrl: source.type === "url" ? source.url : `data:${source.media_type};base64,${source.data}`, imageDetail: "" };
    }
    default:
      throw refused(block.type, `${at}.type`);
  }
}

function refused(type: string, param: string): ReturnType<typeof invalid> {
  if (type === "document") return invalid(param, "Content blocks of type 'document' are not supported by this gateway yet.");
  return invalid(param, `Content blocks of type '${type}' are not supported here.`);
}

/** A user turn: its tool results as tool messages, then the user's own blocks (if any) as one message. */
export function userMessages(content: string | Block[], at: string): Mapped[] {
  const origin = at.replace(/\.content$/, "");
  if (typeof content === "string") return [{ message: { role: "user", content }, origin }];
  const out: Mapped[] = [];
  const parts: ContentPart[] = [];
  content.forEach((block, j) => {
    if (block.type === "tool_result") out.push({ message: toolMessage(block, `${at}.${j}`), origin: `${at}.${j}` });
    else parts.push(part(block, `${at}.${j}`));
  });
  // A turn of tool results alone has nothing more to say; an empty one is the core's to refuse.
  if (parts.length > 0 || out.length === 0) out.push({ message: { role: "user", parts }, origin });
  return out;
}

/** A tool_result block as a tool message; an error result says so in its text, the job having no flag for it. */
function toolMessage(block: Block, at: string): ChatMessage {
  const r = check(toolResultBlock, block, under(at));
  const m: ChatMessage = { role: "tool", toolCallId: r.tool_use_id };
  if (r.content === undefined || typeof r.content === "string") {
    const text = r.content ?? "";
    m.content = r.is_error ? `Error: ${text}` : text;
    return m;
  }
  const parts = r.content.map((b, k) => part(b, `${at}.content.${k}`));
  m.parts = r.is_error ? [{ type: "text", text: "Error:" }, ...parts] : parts;
  return m;
}

/**
 * An assistant turn: text as parts, tool_use blocks as tool calls (input as JSON arguments), thinking
 * blocks checked and kept as the client sent them, in order.
 */
export function assistantMessage(content: string | Block[], at: string): ChatMessage {
  if (typeof content === "string") return { role: "assistant", content };
  const parts: ContentPart[] = [];
  const toolCalls: ToolCall[] = [];
  const reasoning: Block[] = [];
  content.forEach((block, j) => {
    if (block.type === "thinking" || block.type === "redacted_thinking") {
      check(block.type === "thinking" ? thinkingBlock : redactedThinkingBlock, block, under(`${at}.${j}`));
      return void reasoning.push(block);
    }
    if (block.type !== "tool_use") return void parts.push(part(block, `${at}.${j}`));
    const t = check(toolUseBlock, block, under(`${at}.${j}`));
    toolCalls.push({ id: t.id, type: "function", name: t.name, arguments: JSON.stringify(t.input) });
  });
  const m: ChatMessage = { role: "assistant" };
  if (parts.length > 0) m.parts = parts;
  if (toolCalls.length > 0) m.toolCalls = toolCalls;
  if (reasoning.length > 0) m.reasoningBlocksJson = JSON.stringify(reasoning);
  // A turn of thinking alone still says the assistant spoke.
  if (parts.length === 0 && toolCalls.length === 0) m.content = "";
  return m;
}

/** The system prompt: a string or text blocks (Anthropic allows nothing else there). */
export function systemMessage(content: string | Block[]): ChatMessage {
  if (typeof content === "string") return { role: "system", content };
  return { role: "system", parts: content.map((b, j) => (b.type === "text" ? part(b, `system.${j}`) : refusedInSystem(b.type, j))) };
}

function refusedInSystem(type: string, j: number): never {
  throw invalid(`system.${j}.type`, `The system prompt takes text blocks only, not '${type}'.`);
}
