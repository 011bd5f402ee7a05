// What a stored response adds to its conversation, for the next turn's
// previous_response_id: the answer as one canonical assistant message, its
// text and its tool calls, as chat would have carried them.
import type { ChatMessage, ToolCall } from "../../contract/mod.js";
import type { ResponseObject } from "./response-object.js";

/** The response's output as the assistant turn of the conversation; none when it said nothing. */
export function assistantTurn(r: ResponseObject): ChatMessage[] {
  let text = "";
  const calls: ToolCall[] = [];
  for (const item of r.output) {
    // A refusal is the model's words too: the next turn sees what it said.
    if (item.type === "message") for (const p of item.content) text += p.type === "refusal" ? p.refusal : p.text;
    else calls.push({ id: item.call_id, type: "function", name: item.name, arguments: item.arguments });
  }
  if (!text && calls.length === 0) return [];
  const m: ChatMessage = { role: "assistant" };
  if (text) m.content = text;
  if (calls.length) m.toolCalls = calls;
  return [m];
}
