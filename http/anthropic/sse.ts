// Anthropic's streaming events, each `event: <type>\ndata: <json>\n\n`:
// message_start, then per content block content_block_start, its
// content_block_delta events (text_delta; input_json_delta for tool_use;
// thinking_delta, then one signature_delta, for thinking; none for a
// redacted_thinking block, whose start holds its data) and content_block_stop,
// at increasing indexes in the order the engine produced them; then
// message_delta (stop reason, usage) and message_stop; or `error` once started.
// https://docs.anthropic.com/en/docs/build-with-claude/streaming
import type { BrokerError, Delta, Final, ToolCallDelta } from "../../contract/mod.js";
import { anthropicError } from "./errors.js";
import { stopOf, toolUseId, usageOf } from "./message-format.js";

const event = (type: string, data: string): string => `event: ${type}\ndata: ${data}\n\n`;

const PING = event("ping", `{"type":"ping"}`);
const MESSAGE_STOP = event("message_stop", `{"type":"message_stop"}`);
const blockStop = (index: number): string => event("content_block_stop", `{"type":"content_block_stop","index":${index}}`);
const deltaHead = (index: number): string => `event: content_block_delta\ndata: {"type":"content_block_delta","index":${index},"delta":`;

/**
 * Turns a job's output into Anthropic's event stream. The opening events go
 * out with the first batch (or the final, for an empty answer), since the
 * response headers wait for it.
 */
export class MessagesStream {
  private opening: string;
  private finishReason = "";
  /** The next block's index; the open block is the one before it. */
  private next = 0;
  /**
   * The open block: text, thinking (until its signature, which "signed" marks: later thinking is a new
   * block), redacted_thinking, or a tool_use block's call index.
   */
  private open: "text" | "thinking" | "signed" | "redacted" | number | undefined;
  /** Each tool call's block index, by the call's index. */
  private readonly tools = new Map<number, number>();
  private readonly id: string;

  /**
   * @param inputEstimate the prompt's tokens as admission estimated them:
   * message_start must name input tokens before the engine has counted them;
   * message_delta carries the engine's count, which the SDKs take as final.
   */
  constructor(opts: { id: string; model: string; inputEstimate: number }) {
    this.id = opts.id;
    const message = {
      id: opts.id, type: "message", role: "assistant", model: opts.model, content: [],
      stop_reason: null, stop_sequence: null, usage: { input_tokens: opts.inputEstimate, output_tokens: 0 },
    };
    this.opening = event("message_start", JSON.stringify({ type: "message_start", message }));
  }

  /** Block events for a batch of deltas (choice 0; Anthropic has no `n`). */
  deltas(items: Delta[]): string {
    let out = this.takeOpening();
    for (const d of items) {
      if ((d.index ?? 0) !== 0) continue;
      if (d.reasoning || d.reasoningSignature) out += this.thinking(d.reasoning ?? "", d.reasoningSignature ?? "");
      if (d.redactedReasoning) out += this.start("redacted", JSON.stringify({ type: "redacted_thinking", data: d.redactedReasoning }));
      // An upstream's refusal text is what the model said; Anthropic has no separate field for it.
      const text = (d.content ?? "") + (d.refusal ?? "");
      if (text) {
        if (this.open !== "text") out += this.start("text", `{"type":"text","text":""}`);
        out += `${deltaHead(this.next - 1)}{"type":"text_delta","text":${JSON.stringify(text)}}}\n\n`;
      }
      for (const c of d.toolCalls ?? []) out += this.toolCall(c);
      if (d.finishReason) this.finishReason = d.finishReason;
    }
    return out;
  }

  /** Closes the open block, then message_delta (stop reason, usage) and message_stop. */
  final(f: Final): string {
    let out = this.takeOpening();
    // An empty answer is one empty text block, as the whole message has it.
    if (this.next === 0) out += this.start("text", `{"type":"text","text":""}`);
    out += blockStop(this.next - 1);
    const delta = { type: "message_delta", delta: stopOf(this.finishReason, f), usage: usageOf(f) };
    return `${out}${event("message_delta", JSON.stringify(delta))}${MESSAGE_STOP}`;
  }

  /** One `error` event; the caller ends the stream after it. */
  error(e: BrokerError): string {
    const { type, error } = anthropicError(e, "");
    return event("error", JSON.stringify({ type, error }));
  }

  // Thinking text goes to the open thinking block, else opens one (empty, as Anthropic starts it); a signature closes it.
  private thinking(text: string, signature: string): string {
    let out = this.open === "thinking" ? "" : this.start("thinking", `{"type":"thinking","thinking":"","signature":""}`);
    if (text) out += `${deltaHead(this.next - 1)}{"type":"thinking_delta","thinking":${JSON.stringify(text)}}}\n\n`;
    if (signature) {
      out += `${deltaHead(this.next - 1)}{"type":"signature_delta","signature":${JSON.stringify(signature)}}}\n\n`;
      this.open = "signed";
    }
    return out;
  }

  // A call's first fragment opens its tool_use block (input {} as Anthropic starts it); later ones add input_json_delta.
  private toolCall(c: ToolCallDelta): string {
    const call = c.index ?? 0;
    let out = "";
    let at = this.tools.get(call);
    if (at === undefined) {
      const id = toolUseId(c.id ?? "", `${this.id.replace(/^msg_/, "")}_${this.tools.size}`);
      out += this.start(call, JSON.stringify({ type: "tool_use", id, name: c.name ?? "", input: {} }));
      at = this.next - 1;
      this.tools.set(call, at);
    }
    if (c.arguments) out += `${deltaHead(at)}{"type":"input_json_delta","partial_json":${JSON.stringify(c.arguments)}}}\n\n`;
    return out;
  }

  /** Closes the open block and starts the next; the first block is followed by a ping, as Anthropic sends it. */
  private start(open: "text" | "thinking" | "redacted" | number, block: string): string {
    let out = this.next > 0 ? blockStop(this.next - 1) : "";
    out += event("content_block_start", `{"type":"content_block_start","index":${this.next},"content_block":${block}}`);
    if (this.next === 0) out += PING;
    this.open = open;
    this.next++;
    return out;
  }

  private takeOpening(): string {
    const out = this.opening;
    this.opening = "";
    return out;
  }
}
