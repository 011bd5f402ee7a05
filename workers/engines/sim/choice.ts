import type { Delta } from "../../../contract/mod.js";
import type { DeltaSink } from "../../engine.js";
import { WORDS } from "./words.js";

/** One choice's generator, with the look-behind buffer that stop strings need. */
export class Choice {
  done = false;
  /** The stop string that ended the choice; "" when none did. */
  stopSequence = "";
  private started = false;
  private readonly random: () => number;
  private readonly maxStop: number;
  // Only kept when there are stop strings: all text generated, and how much of it was sent.
  private text = "";
  private sent = 0;

  constructor(
    private readonly index: number,
    seed: number,
    private readonly stops: string[],
    private readonly sink: DeltaSink,
    /** Chat choices announce the assistant role on their first delta; legacy completions do not. */
    private readonly withRole: boolean,
    /** Text sent before the first token (legacy completions' `echo`). */
    private prefix = "",
  ) {
    this.random = mulberry32(seed);
    this.maxStop = stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  /** Generates one token; returns true when a stop string ended the choice. */
  push(first: boolean): boolean {
    const word = WORDS[Math.floor(this.random() * WORDS.length)] ?? "";
    const token = first ? word : ` ${word}`;
    if (this.maxStop === 0) {
      this.emit(token, "");
      return false;
    }
    this.text += token;
    // Text already sent holds no stop and no stop's beginning, so a match starts at `sent` or later.
    let at = -1;
    for (const stop of this.stops) {
      const i = this.text.indexOf(stop, this.sent);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        this.stopSequence = stop;
      }
    }
    if (at >= 0) {
      this.emit(this.text.slice(this.sent, at), "stop");
      this.done = true;
      return true;
    }
    const safe = this.text.length - this.heldBack();
    if (safe > this.sent) {
      this.emit(this.text.slice(this.sent, safe), "");
      this.sent = safe;
    }
    return false;
  }

  /** Ends the choice, sending any text held back for a stop that never completed. */
  finish(reason: string): void {
    this.emit(this.text.slice(this.sent), reason);
    this.done = true;
  }

  // The longest unsent tail of the text that some stop string begins with.
  private heldBack(): number {
    for (let k = Math.min(this.maxStop - 1, this.text.length - this.sent); k > 0; k--) {
      const tail = this.text.slice(this.text.length - k);
      if (this.stops.some((s) => s.length > k && s.startsWith(tail))) return k;
    }
    return 0;
  }

  private emit(content: string, finishReason: string): void {
    const d: Delta = { index: this.index, content: this.prefix + content };
    this.prefix = "";
    if (!this.started) {
      if (this.withRole) d.role = "assistant";
      this.started = true;
    }
    if (finishReason) d.finishReason = finishReason;
    this.sink.delta(d);
  }
}


export function mulberry32(seed: number): () => number {
  // Fold the high bits in: seeds are int64 and should not collide modulo 2^32.
  let a = (seed ^ Math.imul(Math.floor(seed / 0x100000000), 0x9e3779b1)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}
