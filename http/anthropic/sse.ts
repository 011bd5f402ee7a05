// Anthropic's streaming events, each `event: <type>\ndata: <json>\n\n`:
// message_start, content_block_start, ping, content_block_delta…,
// content_block_stop, message_delta, message_stop; or `error` once started.
// https://docs.anthropic.com/en/docs/build-with-claude/streaming
import type { BrokerError, Delta, Final } from "../../contract/mod.js";
import { anthropicError } from "./errors.js";
import { stopReason, usageOf } from "./message-format.js";

const event = (type: string, data: string): string => `event: ${type}\ndata: ${data}\n\n`;

const BLOCK_START = event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`);
const PING = event("ping", `{"type":"ping"}`);
const BLOCK_STOP = event("content_block_stop", `{"type":"content_block_stop","index":0}`);
const MESSAGE_STOP = event("message_stop", `{"type":"message_stop"}`);
const DELTA_HEAD = `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`;

/**
 * Turns a job's output into Anthropic's event stream: one text block at
 * index 0. The opening events go out with the first batch (or the final,
 * for an empty answer), since the response headers wait for it.
 */
export class MessagesStream {
  private opening: string;
  private finishReason = "";

  /**
   * @param inputEstimate the prompt's tokens as admission estimated them:
   * message_start must name input tokens before the engine has counted them;
   * message_delta carries the engine's count, which the SDKs take as final.
   */
  constructor(opts: { id: string; model: string; inputEstimate: number }) {
    const message = {
      id: opts.id, type: "message", role: "assistant", model: opts.model, content: [],
      stop_reason: null, stop_sequence: null, usage: { input_tokens: opts.inputEstimate, output_tokens: 0 },
    };
    this.opening = event("message_start", JSON.stringify({ type: "message_start", message })) + BLOCK_START + PING;
  }

  /** content_block_delta events for a batch of deltas (choice 0; Anthropic has no `n`). */
  deltas(items: Delta[]): string {
    let out = this.open();
    for (const d of items) {
      if ((d.index ?? 0) !== 0) continue;
      if (d.content) out += `${DELTA_HEAD}${JSON.stringify(d.content)}}}\n\n`;
      if (d.finishReason) this.finishReason = d.finishReason;
    }
    return out;
  }

  /** content_block_stop, message_delta (stop reason, usage) and message_stop. */
  final(f: Final): string {
    const delta = { type: "message_delta", delta: { stop_reason: stopReason(this.finishReason), stop_sequence: null }, usage: usageOf(f) };
    return `${this.open()}${BLOCK_STOP}${event("message_delta", JSON.stringify(delta))}${MESSAGE_STOP}`;
  }

  /** One `error` event; the caller ends the stream after it. */
  error(e: BrokerError): string {
    const { type, error } = anthropicError(e, "");
    return event("error", JSON.stringify({ type, error }));
  }

  private open(): string {
    const out = this.opening;
    this.opening = "";
    return out;
  }
}
