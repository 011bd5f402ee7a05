// A Responses `input`: a string, or items (messages, function calls and their
// outputs), checked with zod and mapped two ways: onto the canonical chat
// messages the job carries, and onto the Responses-shaped items, with ids,
// that GET /v1/responses/{id}/input_items lists.
// https://platform.openai.com/docs/api-reference/responses/create#responses-create-input
import { z } from "zod";
import type { ChatMessage, ContentPart, ToolCall } from "../../contract/mod.js";
import { fields, invalid } from "../../core/mod.js";
import { ids } from "./response-object.js";

const detail = fields.oneOf(fields.IMAGE_DETAILS);

const inputText = z.object({ type: z.literal("input_text"), text: z.string() });
// An assistant turn the client sends back: its annotations and logprobs mean nothing to an engine.
const outputText = z.looseObject({ type: z.literal("output_text"), text: z.string() });
const refusal = z.object({ type: z.literal("refusal"), refusal: z.string() });
const inputImage = z.object({
  type: z.literal("input_image"),
  image_url: z.string().nullish(),
  file_id: z.string().nullish(),
  detail: detail.nullish(),
});
const KNOWN_PARTS = new Set(["input_text", "output_text", "refusal", "input_image"]);
// input_file, input_audio and parts yet to come: refused by type below. The refinement aborts, so a
// union whose other options failed too reports every option (and the error names the one meant),
// rather than only this one's, which zod would take as the only near miss.
const otherPart = z.looseObject({ type: z.string().refine((t) => !KNOWN_PARTS.has(t), { abort: true }) });
const contentPart = z.union([inputText, outputText, refusal, inputImage, otherPart], { error: "a content part object with a 'type'" });
const content = z.union([z.string(), z.array(contentPart)], { error: "a string or an array of content parts" });

const messageItem = z.looseObject({
  type: z.literal("message").optional(),
  role: fields.oneOf(["user", "assistant", "system", "developer"]),
  content,
  id: z.string().nullish(),
});
const functionCall = z.looseObject({
  type: z.literal("function_call"),
  call_id: z.string({ error: fields.nonEmpty }).min(1, { error: fields.nonEmpty }),
  name: z.string({ error: fields.nonEmpty }).min(1, { error: fields.nonEmpty }),
  arguments: z.string(),
  id: z.string().nullish(),
});
const functionCallOutput = z.looseObject({
  type: z.literal("function_call_output"),
  call_id: z.string({ error: fields.nonEmpty }).min(1, { error: fields.nonEmpty }),
  output: z.union([z.string(), z.array(contentPart)], { error: "a string or an array of content parts" }),
  id: z.string().nullish(),
});
// Reasoning items a client hands back (Codex does, with store:false): no engine here reads them.
const reasoning = z.looseObject({ type: z.literal("reasoning") });
const KNOWN_ITEMS = new Set(["message", "function_call", "function_call_output", "reasoning"]);
// item_reference, computer calls, hosted tools' items…: refused by type below.
const otherItem = z.looseObject({ type: z.string().refine((t) => !KNOWN_ITEMS.has(t), { abort: true }) });
const item = z.union([messageItem, functionCall, functionCallOutput, reasoning, otherItem], { error: "an input item object" });

/** `input` as the Responses body gives it. */
export const inputSchema = z.union([z.string(), z.array(item)], { error: "a string or an array of input items" });
export type Input = z.infer<typeof inputSchema>;
type Item = z.infer<typeof item>;
type Part = z.infer<typeof contentPart>;

/** One input item as input_items lists it. */
export type StoredItem = Record<string, unknown> & { id: string; type: string };

/**
 * The input as canonical messages: function calls join the assistant turn
 * before them (chat's `tool_calls`), outputs become `tool` messages.
 * `origin[i]` names the body field message i came from, for errors.
 * @throws BrokerError 400 for an item or part type no engine here can take.
 */
export function toMessages(input: Input | null | undefined): { messages: ChatMessage[]; origin: string[] } {
  const messages: ChatMessage[] = [];
  const origin: string[] = [];
  if (input == null) return { messages, origin };
  if (typeof input === "string") return { messages: [{ role: "user", content: input }], origin: ["input"] };
  input.forEach((it, i) => {
    const param = `input[${i}]`;
    if (it.type === "reasoning") return;
    if (isFunctionCall(it)) {
      const call: ToolCall = { id: it.call_id, type: "function", name: it.name, arguments: it.arguments };
      const last = messages[messages.length - 1];
      // Parallel calls are one assistant turn in chat; so is a text answer followed by calls.
      if (last?.role === "assistant") last.toolCalls = [...(last.toolCalls ?? []), call];
      else push({ role: "assistant", toolCalls: [call] }, param);
      return;
    }
    if (isFunctionCallOutput(it)) {
      const out = it.output;
      push({ role: "tool", toolCallId: it.call_id, ...(typeof out === "string" ? { content: out } : partsOf(out, `${param}.output`)) }, param);
      return;
    }
    if (!isMessage(it)) throw invalid(`${param}.type`, `Input items of type '${String(it.type)}' are not supported by this gateway.`);
    if (it.role === "assistant") {
      // An earlier answer: its text, whatever parts it came in.
      const text = typeof it.content === "string" ? it.content : it.content.map((p, j) => textOf(p, `${param}.content[${j}]`)).join("");
      push({ role: "assistant", content: text }, param);
      return;
    }
    push({ role: it.role, ...(typeof it.content === "string" ? { content: it.content } : partsOf(it.content, `${param}.content`)) }, param);
  });
  return { messages, origin };

  function push(m: ChatMessage, param: string): void {
    messages.push(m);
    origin.push(param);
  }
}

/** The input as input_items lists it: Responses-shaped items, each with an id (the client's, else one made from the job id). */
export function storedItems(input: Input | null | undefined, jobId: string): StoredItem[] {
  if (input == null) return [];
  if (typeof input === "string") return [{ id: ids.input(jobId, "msg", 0), type: "message", role: "user", status: "completed", content: [{ type: "input_text", text: input }] }];
  const out: StoredItem[] = [];
  input.forEach((it, n) => {
    if (it.type === "reasoning") return;
    if (isFunctionCall(it)) {
      out.push({ id: it.id ?? ids.input(jobId, "fc", n), type: "function_call", status: "completed", call_id: it.call_id, name: it.name, arguments: it.arguments });
    } else if (isFunctionCallOutput(it)) {
      out.push({ id: it.id ?? ids.input(jobId, "fco", n), type: "function_call_output", status: "completed", call_id: it.call_id, output: it.output });
    } else if (isMessage(it)) {
      const id = it.id ?? ids.input(jobId, "msg", n);
      const parts = typeof it.content === "string" ? [{ type: it.role === "assistant" ? "output_text" : "input_text", text: it.content }] : it.content;
      const content = parts.map((p) => (p.type === "output_text" ? { type: "output_text", text: p.text, annotations: [] } : p));
      out.push({ id, type: "message", role: it.role, status: "completed", content });
    }
  });
  return out;
}

function isMessage(it: Item): it is z.infer<typeof messageItem> {
  return it.type === undefined || it.type === "message";
}
function isFunctionCall(it: Item): it is z.infer<typeof functionCall> {
  return it.type === "function_call";
}
function isFunctionCallOutput(it: Item): it is z.infer<typeof functionCallOutput> {
  return it.type === "function_call_output";
}

// User, system and developer content as the job's parts: text and images.
function partsOf(list: Part[], param: string): { parts: ContentPart[] } {
  return {
    parts: list.map((p, j): ContentPart => {
      if (p.type === "input_text" || p.type === "output_text") return { type: "text", text: textOf(p, `${param}[${j}]`) };
      if (p.type === "input_image") {
        const img = p as z.infer<typeof inputImage>;
        // No Files API here: an image is a URL (https: or data:).
        if (!img.image_url) throw invalid(`${param}[${j}].image_url`, "An input_image needs an 'image_url': file ids are not supported by this gateway.");
        return { type: "image_url", imageUrl: img.image_url, imageDetail: img.detail ?? "" };
      }
      throw unsupportedPart(p.type, `${param}[${j}].type`);
    }),
  };
}

// An assistant turn's text: its output_text, or what it refused with.
function textOf(p: Part, param: string): string {
  if ((p.type === "input_text" || p.type === "output_text") && typeof p.text === "string") return p.text;
  if (p.type === "refusal" && typeof p.refusal === "string") return p.refusal;
  throw unsupportedPart(p.type, `${param}.type`);
}

function unsupportedPart(type: unknown, param: string): ReturnType<typeof invalid> {
  return invalid(param, `Content parts of type '${String(type)}' are not supported here.`);
}
