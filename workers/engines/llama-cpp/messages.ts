// OpenAI chat messages → node-llama-cpp chat history, which the model's chat
// wrapper renders with its template.
import type { ChatHistoryItem, ChatModelFunctionCall } from "node-llama-cpp";
import { BrokerError, type ChatMessage } from "../../../contract/mod.js";
import type { Mode, Tool } from "./structured.js";

/**
 * The history to generate from, ending in the empty model turn to be written.
 * Assistant tool calls carry their results from the matching `tool` messages,
 * so the wrapper renders them in the model's own function-call syntax.
 */
export function toHistory(messages: readonly ChatMessage[], mode: Mode): ChatHistoryItem[] {
  const results = new Map<string, string>();
  messages.forEach((m, i) => {
    if (m.role === "tool" && m.toolCallId) results.set(m.toolCallId, textOf(m, i));
  });
  const answered = new Set<string>();
  const history: ChatHistoryItem[] = mode.kind === "call" ? [{ type: "system", text: callInstructions(mode.tools) }] : [];
  messages.forEach((m, i) => {
    const text = textOf(m, i);
    switch (m.role) {
      case "system":
      case "developer":
        return void history.push({ type: "system", text });
      case "user":
        return void history.push({ type: "user", text });
      case "assistant": {
        const response: ChatModelFunctionCall[] = (m.toolCalls ?? []).map((c) => {
          answered.add(c.id ?? "");
          return { type: "functionCall", name: c.name ?? "", params: parseArguments(c.arguments ?? ""), result: results.get(c.id ?? "") ?? "" };
        });
        return void history.push({ type: "model", response: text ? [text, ...response] : response });
      }
      case "tool":
        // A result whose call is not in the history still reaches the model, as plain text.
        if (!answered.has(m.toolCallId ?? "")) history.push({ type: "user", text: `Tool result: ${text}` });
        return;
      default:
        throw new BrokerError("invalid_request", `messages[${i}]: unknown role "${m.role ?? ""}"`, { param: `messages[${i}].role` });
    }
  });
  history.push({ type: "model", response: [] });
  return history;
}

function textOf(m: ChatMessage, i: number): string {
  if (m.content != null) return m.content;
  return (m.parts ?? [])
    .map((p) => {
      if (p.type !== "text") throw new BrokerError("invalid_request", `messages[${i}]: this model reads text only, not ${p.type} parts`, { param: `messages[${i}].content` });
      return p.text ?? "";
    })
    .join("\n");
}

function parseArguments(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return args; // a malformed call from an earlier turn is still shown to the model as it was
  }
}

// The grammar forces the shape; this tells a real model which tool and what the arguments mean.
function callInstructions(tools: readonly Tool[]): string {
  const list = tools.map((t) => `- ${t.name}: ${t.description} Parameters (JSON schema): ${JSON.stringify(t.parameters)}`);
  // One forced tool: the grammar asks for its arguments only (structured.ts).
  const head =
    tools.length === 1
      ? `Answer with the arguments of a call to the function ${tools[0]!.name}, written as JSON.`
      : 'Answer with a call to one of these functions, written as JSON: {"name": <function name>, "arguments": <its arguments>}.';
  return [head, ...list].join("\n");
}
