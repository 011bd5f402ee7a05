// A simulated engine for demos and load tests (in the spirit of llm-d's
// inference simulator): deterministic lorem-ipsum words at a configurable pace,
// with OpenAI's max_tokens, n and stop semantics so clients see real behaviour.
import { z } from "zod";
import { BrokerError } from "../../../broker/errors.js";
import type { ChatMessage, Delta, InferenceJob } from "../../../broker/proto.js";
import type { DeltaSink, EngineAdapter, EngineFactory, RunContext, RunResult } from "../../engine.js";

const optionsSchema = z.strictObject({
  /** Delay before the first token. */
  ttftMs: z.number().int().nonnegative().default(0),
  /** Delay between tokens (one token per choice per step). */
  itlMs: z.number().int().nonnegative().default(0),
  /** Tokens generated when max_tokens or a stop string does not end a choice earlier. */
  outputTokens: z.number().int().nonnegative().default(16),
});

/** The sim engine's options, after defaults. */
export type SimOptions = z.infer<typeof optionsSchema>;

// Fixed so that a seed means the same text across versions and processes.
const WORDS = [
  "Lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
  "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim",
  "ad", "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris", "nisi",
  "aliquip", "ex", "ea", "commodo", "consequat", "duis", "aute", "irure", "in", "reprehenderit",
  "voluptate", "velit", "esse", "cillum", "eu", "fugiat", "nulla", "pariatur", "excepteur",
  "sint", "occaecat", "cupidatat", "non", "proident", "sunt", "culpa", "qui", "officia",
  "deserunt", "mollit", "anim", "id", "est", "laborum", "vitae",
] as const;

// With no delay, generation never awaits a timer; it yields this often so a
// long run does not starve the worker's NATS traffic.
const YIELD_EVERY = 64;

/** Builds the sim engine; throws BrokerError("invalid_request") naming the bad option. */
export const createSimEngine: EngineFactory = async (spec) => {
  const parsed = optionsSchema.safeParse(spec.options ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.code === "unrecognized_keys" ? issue.keys.join(", ") : issue?.path.join(".");
    throw new BrokerError("invalid_request", `sim engine: option ${path || "(root)"}: ${issue?.message ?? "invalid"}`);
  }
  return new SimEngine(parsed.data);
};

class SimEngine implements EngineAdapter {
  readonly name = "sim";
  constructor(private readonly opts: SimOptions) {}

  async run(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    const { ttftMs, itlMs, outputTokens } = this.opts;
    const { signal } = ctx;
    const chat = job.chat ?? {};
    const messages = chat.messages ?? [];
    const maxTokens = chat.maxTokens;
    const limit = maxTokens != null ? Math.min(maxTokens, outputTokens) : outputTokens;
    const cutReason = maxTokens != null && maxTokens < outputTokens ? "length" : "stop";
    const seed = chat.seed ?? promptHash(messages);
    const stops = (chat.stop ?? []).filter((s) => s.length > 0);
    const choices: Choice[] = [];
    for (let i = 0; i < Math.max(1, chat.n ?? 0); i++) choices.push(new Choice(i, seed + i, stops, sink));

    signal.throwIfAborted();
    if (ttftMs > 0) await sleep(ttftMs, signal);
    let active = choices.length;
    let completionTokens = 0;
    for (let t = 0; t < limit && active > 0; t++) {
      if (t > 0 && itlMs > 0) await sleep(itlMs, signal);
      else if (t > 0 && t % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      signal.throwIfAborted();
      for (const choice of choices) {
        if (choice.done) continue;
        completionTokens++;
        if (choice.push(t === 0)) active--;
      }
    }
    for (const choice of choices) if (!choice.done) choice.finish(cutReason);
    return { usage: { promptTokens: promptTokens(messages), completionTokens }, model: job.model };
  }

  async close(): Promise<void> {}
}

/** One choice's generator, with the look-behind buffer that stop strings need. */
class Choice {
  done = false;
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
      if (i >= 0 && (at < 0 || i < at)) at = i;
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
    const d: Delta = { index: this.index, content };
    if (!this.started) {
      d.role = "assistant";
      this.started = true;
    }
    if (finishReason) d.finishReason = finishReason;
    this.sink.delta(d);
  }
}

function messageText(m: ChatMessage): string {
  if (m.content != null) return m.content;
  return (m.parts ?? []).map((p) => p.text ?? "").join(" ");
}

/** A rough token count: words plus OpenAI's per-message overhead of about 3 tokens. */
function promptTokens(messages: ChatMessage[]): number {
  let n = 0;
  for (const m of messages) {
    const text = messageText(m).trim();
    n += (text ? text.split(/\s+/).length : 0) + 3;
  }
  return n;
}

// FNV-1a over the prompt, so a request without a seed still gets the same text every time.
function promptHash(messages: ChatMessage[]): number {
  let h = 0x811c9dc5;
  for (const m of messages) {
    const text = `${m.role ?? ""}\u0000${messageText(m)}\u0001`;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

function mulberry32(seed: number): () => number {
  // Fold the high bits in: seeds are int64 and should not collide modulo 2^32.
  let a = (seed ^ Math.imul(Math.floor(seed / 0x100000000), 0x9e3779b1)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}

/** Waits `ms`, rejecting with the signal's reason (an AbortError by default) when it aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
