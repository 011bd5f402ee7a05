// One choice's deltas: role first (chat only), text or tool-call pieces, and
// finish_reason last, as the EngineAdapter contract asks.
import { randomBytes } from "node:crypto";
import type { Delta, ToolCallDelta } from "../../../contract/mod.js";
import type { DeltaSink } from "../../engine.js";

export class ChoiceOutput {
  private started = false;
  private readonly calls = new Set<number>();

  constructor(
    private readonly sink: DeltaSink,
    private readonly index: number,
    /** Chat choices announce the assistant role; legacy completions do not. */
    private readonly withRole: boolean,
    /** Text sent before the first token (legacy completions' `echo`). */
    private prefix = "",
  ) {}

  /** Whether a tool call was started. */
  get called(): boolean {
    return this.calls.size > 0;
  }

  text(content: string): void {
    if (content) this.emit({ content });
  }

  /** A piece of tool call `call`: the first piece opens the call with its id, type and name. */
  toolCall(call: number, name: string, args: string): void {
    const piece: ToolCallDelta = { index: call, arguments: args };
    if (!this.calls.has(call)) {
      this.calls.add(call);
      Object.assign(piece, { id: `call_${randomBytes(12).toString("hex")}`, type: "function", name });
    } else if (!args) return;
    this.emit({ toolCalls: [piece] });
  }

  finish(finishReason: string): void {
    this.emit({ finishReason });
  }

  private emit(d: Delta): void {
    d.index = this.index;
    if (!this.started) {
      this.started = true;
      if (this.withRole) d.role = "assistant";
      if (this.prefix) d.content = this.prefix + (d.content ?? "");
    }
    this.sink.delta(d);
  }
}

// `{"name": "<tool>", "arguments": ` as the call grammar writes it, whitespace and all.
const HEAD = /^\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*/;

/**
 * Streams a grammar-forced call as OpenAI tool-call deltas. With one forced
 * tool (`name` given) the text is the arguments and passes straight through.
 * Otherwise it is `{"name": ..., "arguments": {...}}`: the name goes out once
 * it is complete, then the arguments text as it grows, but a trailing run of
 * `}` and whitespace is held back, because its last brace closes the outer
 * object and is not part of the arguments.
 */
export class CallStream {
  private text = "";
  private sent = 0;
  private readonly wrapped: boolean;

  constructor(
    private readonly out: ChoiceOutput,
    private name: string | null = null,
  ) {
    this.wrapped = name === null;
    // The call opens before the first token, so even an answer cut at once names its tool.
    if (name !== null) out.toolCall(0, name, "");
  }

  push(chunk: string): void {
    if (!this.wrapped) return this.out.toolCall(0, this.name!, chunk);
    this.text += chunk;
    if (this.name === null) {
      const head = HEAD.exec(this.text);
      if (!head) return;
      this.name = JSON.parse(`"${head[1]}"`) as string;
      this.sent = head[0].length;
      this.out.toolCall(0, this.name, "");
    }
    let safe = this.text.length;
    while (safe > this.sent && /[\s}]/.test(this.text[safe - 1]!)) safe--;
    if (safe > this.sent) this.out.toolCall(0, this.name, this.text.slice(this.sent, safe));
    this.sent = Math.max(this.sent, safe);
  }

  /** Sends what was held back; `complete`: the grammar finished, so the outer brace is there to drop. */
  end(complete: boolean): void {
    if (!this.wrapped || this.name === null) return;
    const rest = this.text.slice(this.sent);
    this.out.toolCall(0, this.name, complete ? rest.replace(/\s*\}\s*$/, "") : rest);
  }
}
