// A simulated engine for demos and load tests (in the spirit of llm-d's
// inference simulator): deterministic lorem-ipsum words at a configurable pace,
// with OpenAI's max_tokens, n and stop semantics so clients see real behaviour,
// and a call with schema-shaped arguments when the request forces a tool.
import { z } from "zod";
import type { ChatMessage, InferenceJob } from "../../../contract/mod.js";
import type { DeltaSink, EmbedResult, EngineAdapter, EngineFactory, RunContext, RunResult } from "../../engine.js";
import { parseEngineOptions } from "../options.js";
import { Choice, mulberry32 } from "./choice.js";
import { emitCall, forcedTool, type ForcedTool } from "./tools.js";

const optionsSchema = z.strictObject({
  /** Delay before the first token. */
  ttftMs: z.number().int().nonnegative().default(0),
  /** Delay between tokens (one token per choice per step). */
  itlMs: z.number().int().nonnegative().default(0),
  /** Tokens generated when max_tokens or a stop string does not end a choice earlier. */
  outputTokens: z.number().int().nonnegative().default(16),
  /** Length of the vectors `embed` returns when the request names no `dimensions`. */
  embeddingDims: z.number().int().min(1).max(8192).default(64),
});

/** The sim engine's options, after defaults. */
export type SimOptions = z.infer<typeof optionsSchema>;

// With no delay, generation never awaits a timer; it yields this often so a
// long run does not starve the worker's NATS traffic.
const YIELD_EVERY = 64;

/** Builds the sim engine; throws a ConfigError naming the bad option. */
export const createSimEngine: EngineFactory = async (spec) => new SimEngine(parseEngineOptions("sim", optionsSchema, spec.options));

/** What one generation needs, from a chat or a legacy completion request. */
interface Generation {
  maxTokens: number | null | undefined;
  stop: string[];
  n: number;
  seed: number;
  /** Prompt texts; legacy completions make n choices per prompt. */
  prompts: string[];
  chat: boolean;
  echo: boolean;
}

class SimEngine implements EngineAdapter {
  readonly name = "sim";
  constructor(private readonly opts: SimOptions) {}

  async run(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    const chat = job.chat ?? {};
    const messages = chat.messages ?? [];
    const seed = chat.seed ?? promptHash(messages.map(messageLine));
    const tool = forcedTool(chat);
    const usage = { promptTokens: promptTokens(messages), completionTokens: 0 };
    if (tool) {
      usage.completionTokens = await this.call(tool, Math.max(1, chat.n ?? 0), seed, sink, ctx.signal);
      return { usage, model: job.model };
    }
    const out = await this.generate({
      maxTokens: chat.maxTokens, stop: chat.stop ?? [], n: chat.n ?? 0, seed, prompts: [""], chat: true, echo: false,
    }, sink, ctx.signal);
    usage.completionTokens = out.completionTokens;
    return { usage, model: job.model, ...(out.stopSequence ? { stopSequence: out.stopSequence } : {}) };
  }

  async complete(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    const c = job.completion ?? {};
    const prompts = c.prompts?.length ? c.prompts : [""];
    const { completionTokens } = await this.generate({
      // OpenAI's legacy default is 16 tokens.
      maxTokens: c.maxTokens ?? 16, stop: c.stop ?? [], n: c.n ?? 0, seed: c.seed ?? promptHash(prompts),
      prompts, chat: false, echo: c.echo === true,
    }, sink, ctx.signal);
    return { usage: { promptTokens: prompts.reduce((s, p) => s + wordCount(p), 0), completionTokens }, model: job.model };
  }

  /** Deterministic unit vectors from the text, so equal inputs embed equally. */
  async embed(job: InferenceJob, ctx: RunContext): Promise<EmbedResult> {
    ctx.signal.throwIfAborted();
    const e = job.embedding ?? {};
    const inputs = e.inputs ?? [];
    const dims = e.dimensions || this.opts.embeddingDims;
    const vectors = inputs.map((text) => {
      const rnd = mulberry32(promptHash([text]));
      const v = Float32Array.from({ length: dims }, () => rnd() * 2 - 1);
      const norm = Math.hypot(...v) || 1;
      return v.map((x) => x / norm);
    });
    return { vectors, usage: { promptTokens: inputs.reduce((s, t) => s + wordCount(t), 0), completionTokens: 0 }, model: job.model };
  }

  /** The prompt tokens `run` reports for the same messages. */
  async countTokens(job: InferenceJob, ctx: RunContext): Promise<number> {
    ctx.signal.throwIfAborted();
    return promptTokens(job.countTokens?.chat?.messages ?? []);
  }

  /** Each choice calls `tool` after the first-token delay; returns the completion tokens (argument fragments). */
  private async call(tool: ForcedTool, n: number, seed: number, sink: DeltaSink, signal: AbortSignal): Promise<number> {
    signal.throwIfAborted();
    if (this.opts.ttftMs > 0) await sleep(this.opts.ttftMs, signal);
    let tokens = 0;
    for (let i = 0; i < n; i++) {
      const choiceSeed = (seed + i) >>> 0;
      tokens += emitCall(sink, i, `call_sim${choiceSeed.toString(16)}`, tool, mulberry32(choiceSeed), true);
    }
    return tokens;
  }

  /**
   * Streams every choice token by token; returns the number of tokens
   * generated and the stop string that ended choice 0, if one did.
   */
  private async generate(g: Generation, sink: DeltaSink, signal: AbortSignal): Promise<{ completionTokens: number; stopSequence: string }> {
    const { ttftMs, itlMs, outputTokens } = this.opts;
    const limit = g.maxTokens != null ? Math.min(g.maxTokens, outputTokens) : outputTokens;
    const cutReason = g.maxTokens != null && g.maxTokens < outputTokens ? "length" : "stop";
    const stops = g.stop.filter((s) => s.length > 0);
    const n = Math.max(1, g.n);
    const choices: Choice[] = [];
    g.prompts.forEach((prompt, p) => {
      for (let i = 0; i < n; i++) {
        const index = p * n + i;
        choices.push(new Choice(index, g.seed + index, stops, sink, g.chat, g.echo ? prompt : ""));
      }
    });

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
    return { completionTokens, stopSequence: choices[0]?.stopSequence ?? "" };
  }

  async close(): Promise<void> {}
}

function messageText(m: ChatMessage): string {
  if (m.content != null) return m.content;
  return (m.parts ?? []).map((p) => p.text ?? "").join(" ");
}

function messageLine(m: ChatMessage): string {
  return `${m.role ?? ""}\u0000${messageText(m)}`;
}

function wordCount(text: string): number {
  const t = text.trim();
  return t ? t.split(/\s+/).length : 0;
}

/** A rough token count: words plus OpenAI's per-message overhead of about 3 tokens. */
function promptTokens(messages: ChatMessage[]): number {
  return messages.reduce((n, m) => n + wordCount(messageText(m)) + 3, 0);
}

// FNV-1a over the prompt, so a request without a seed still gets the same text every time.
function promptHash(texts: string[]): number {
  let h = 0x811c9dc5;
  for (const t of texts) {
    const text = `${t}\u0001`;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
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
