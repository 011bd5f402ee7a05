// Runs GGUF models in-process with llama.cpp (node-llama-cpp): one model per
// engine, one context whose N sequences are the worker's slots, so concurrent
// requests are batched together. Chat goes through the model's own template.
import { randomInt } from "node:crypto";
import {
  LlamaChat,
  LlamaCompletion,
  type ChatHistoryItem,
  type ChatWrapper,
  type LLamaChatGenerateResponseOptions,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaGrammar,
  type LlamaModel,
  type TokenMeterState,
} from "node-llama-cpp";
import { BrokerError, type ChatRequest, type CompletionRequest, type InferenceJob } from "../../../contract/mod.js";
import type { DeltaSink, EmbedResult, EngineAdapter, EngineFactory, RunContext, RunResult } from "../../engine.js";
import { loadModel, type LoadedModel } from "./load.js";
import { toHistory } from "./messages.js";
import { parseOptions, type LlamaCppOptions } from "./options.js";
import { CallStream, ChoiceOutput } from "./output.js";
import { Pool } from "./pool.js";
import { StructuredOutput, type Mode } from "./structured.js";

export type { LlamaCppOptions } from "./options.js";
export { writeDemoModel } from "./demo-model.js";

/** Checks the options and the model file, then loads the model; throws a ConfigError naming the option. */
export const createLlamaCppEngine: EngineFactory = async (spec) => {
  // One sequence per worker slot unless the options say otherwise.
  const raw = spec.slots && spec.options && typeof spec.options === "object" ? { sequences: spec.slots, ...spec.options } : spec.options;
  const opts = parseOptions(raw);
  return new LlamaCppEngine(opts, await loadModel(opts, spec.model));
};

/** One sequence of the context with the two generators that use it. */
interface Slot {
  sequence: LlamaContextSequence;
  chat: LlamaChat;
  completion: LlamaCompletion;
}

/** Sampling settings shared by the choices of one request. */
interface Sampling {
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  stops: string[] | undefined;
  penalties: { presencePenalty: number; frequencyPenalty: number } | undefined;
}

// A seed for node-llama-cpp is 32 bits; requests carry int64. Without a seed
// llama.cpp uses the current second, so two requests in one second would match.
const seedOf = (seed: number | null | undefined): number => (seed == null ? randomInt(2 ** 32 - 1) : Number(BigInt.asUintN(32, BigInt(seed))));

class LlamaCppEngine implements EngineAdapter {
  readonly name = "llama-cpp";
  private readonly model: LlamaModel;
  private readonly wrapper: ChatWrapper;
  private readonly pool: Pool<Slot>;
  private readonly structured: StructuredOutput;
  private readonly contextSize: number;
  private embedding: Promise<LlamaEmbeddingContext> | undefined;

  constructor(
    private readonly opts: LlamaCppOptions,
    private readonly loaded: LoadedModel,
  ) {
    const { model, context, wrapper, llama } = loaded;
    this.model = model;
    this.wrapper = wrapper;
    this.contextSize = context.contextSize;
    this.structured = new StructuredOutput(llama);
    this.pool = new Pool(
      Array.from({ length: opts.sequences }, () => {
        const sequence = context.getSequence();
        return { sequence, chat: new LlamaChat({ contextSequence: sequence, chatWrapper: wrapper }), completion: new LlamaCompletion({ contextSequence: sequence }) };
      }),
    );
  }

  async run(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    const chat = job.chat ?? {};
    const { mode, history, promptTokens } = await this.prompt(chat);
    const sampling = this.sampling(chat, promptTokens, chat.maxTokens, "messages");
    // Bounded by the request's own max_tokens, so a grammar answer ends within it (json-budget.ts).
    const grammar = mode.kind === "json" || mode.kind === "call" ? await this.structured.grammarFor(mode, sampling.maxTokens) : undefined;
    return this.withSlot(ctx.signal, async (slot) => {
      const usage = { promptTokens: 0, completionTokens: 0 };
      let stopSequence = "";
      for (let i = 0; i < Math.max(1, chat.n ?? 0); i++) {
        const out = new ChoiceOutput(sink, i, true);
        const used = await this.chatChoice(slot, history, mode, grammar, out, { ...sampling, seed: (sampling.seed + i) >>> 0 }, ctx.signal);
        if (i === 0) {
          usage.promptTokens = promptEvaluated(used);
          stopSequence = used.stopSequence;
        }
        usage.completionTokens += used.usedOutputTokens;
      }
      return { usage, model: job.model, ...(stopSequence ? { stopSequence } : {}) };
    });
  }

  /** The prompt `run` would build for the same request, tokenized by the model's own tokenizer: no slot needed. */
  async countTokens(job: InferenceJob, ctx: RunContext): Promise<number> {
    ctx.signal.throwIfAborted();
    return (await this.prompt(job.countTokens?.chat ?? {})).promptTokens;
  }

  /** The chat request as the model reads it: its mode, its history, and its prompt's token count. */
  private async prompt(chat: ChatRequest): Promise<{ mode: Mode; history: ChatHistoryItem[]; promptTokens: number }> {
    const mode = await this.structured.modeFor(chat);
    const history = toHistory(chat.messages ?? [], mode);
    const functions = mode.kind === "functions" ? mode.functions : undefined;
    // The templated chat with tool documentation, as the wrapper renders it and
    // LlamaChat tokenizes and evaluates it (the same call): sizes max_tokens, and is the count.
    const promptTokens = this.wrapper.generateContextState({ chatHistory: history, availableFunctions: functions }).contextText.tokenize(this.model.tokenizer).length;
    return { mode, history, promptTokens };
  }

  async complete(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    const req = job.completion ?? {};
    const prompts = req.prompts?.length ? req.prompts : [""];
    const n = Math.max(1, req.n ?? 0);
    // Every prompt is measured before the first one generates: one too long is a plain 400, not an error after output.
    // +1: llama.cpp may put a BOS token in front.
    const runs = prompts.map((prompt, p) => ({
      prompt,
      sampling: this.sampling(req, this.model.tokenize(prompt).length + 1, req.maxTokens ?? 16, "prompt", prompts.length > 1 ? p : undefined),
    }));
    return this.withSlot(ctx.signal, async (slot) => {
      const usage = { promptTokens: 0, completionTokens: 0 };
      for (const [p, { prompt, sampling }] of runs.entries()) {
        for (let i = 0; i < n; i++) {
          const out = new ChoiceOutput(sink, p * n + i, false, req.echo ? prompt : "");
          const used = await this.completeChoice(slot, prompt, out, { ...sampling, seed: (sampling.seed + i) >>> 0 }, ctx.signal);
          if (i === 0) usage.promptTokens += promptEvaluated(used);
          usage.completionTokens += used.usedOutputTokens;
        }
      }
      return { usage, model: job.model };
    });
  }

  async embed(job: InferenceJob, ctx: RunContext): Promise<EmbedResult> {
    const req = job.embedding ?? {};
    if (!this.opts.embeddings) throw new BrokerError("invalid_request", `model ${job.model} does not serve embeddings`, { param: "model" });
    const size = this.model.embeddingVectorSize;
    if (req.dimensions && req.dimensions !== size) {
      throw new BrokerError("invalid_request", `model ${job.model} makes ${size}-dimensional embeddings; dimensions ${req.dimensions} is not supported`, { param: "dimensions" });
    }
    // Created on first use: a worker that never embeds does not pay for a second context.
    this.embedding ??= this.model.createEmbeddingContext({ contextSize: this.opts.contextSize, threads: this.opts.threads }).catch((err: unknown) => {
      this.embedding = undefined;
      throw err;
    });
    const context = await this.embedding;
    const vectors: Float32Array[] = [];
    let promptTokens = 0;
    for (const [i, input] of (req.inputs ?? []).entries()) {
      ctx.signal.throwIfAborted();
      const tokens = this.model.tokenize(input);
      if (tokens.length === 0) throw new BrokerError("invalid_request", `input[${i}] is empty`, { param: "input" });
      if (tokens.length >= this.opts.contextSize) throw contextExceeded(this.opts.contextSize, tokens.length, "input", (req.inputs?.length ?? 0) > 1 ? i : undefined);
      vectors.push(Float32Array.from((await context.getEmbeddingFor(tokens)).vector));
      promptTokens += tokens.length;
    }
    return { vectors, usage: { promptTokens, completionTokens: 0 }, model: job.model };
  }

  async close(): Promise<void> {
    this.pool.close();
    await (await this.embedding?.catch(() => undefined))?.dispose();
    await this.loaded.context.dispose();
    await this.model.dispose();
  }

  private async withSlot<T>(signal: AbortSignal, fn: (slot: Slot) => Promise<T>): Promise<T> {
    const slot = await this.pool.acquire(signal);
    try {
      return await fn(slot);
    } finally {
      this.pool.release(slot);
    }
  }

  /**
   * The request's sampling settings; max_tokens is capped by what the context has left after the prompt.
   * `index`: which prompt of several.
   * @throws BrokerError 400 `context_length_exceeded` when the prompt leaves no room for one token.
   */
  private sampling(req: ChatRequest | CompletionRequest, promptTokens: number, maxTokens: number | null | undefined, param: "messages" | "prompt", index?: number): Sampling {
    const room = this.contextSize - promptTokens;
    if (room < 1) throw contextExceeded(this.contextSize, promptTokens, param, index);
    const stops = (req.stop ?? []).filter((s) => s.length > 0);
    const penalize = req.presencePenalty != null || req.frequencyPenalty != null;
    return {
      // 0 means "no limit" to node-llama-cpp, so the least is 1.
      maxTokens: Math.max(1, Math.min(maxTokens ?? room, room)),
      temperature: req.temperature ?? 1,
      topP: req.topP ?? 1,
      seed: seedOf(req.seed),
      stops: stops.length > 0 ? stops : undefined,
      penalties: penalize ? { presencePenalty: req.presencePenalty ?? 0, frequencyPenalty: req.frequencyPenalty ?? 0 } : undefined,
    };
  }

  /** Generates one chat choice; returns the tokens it evaluated and generated, as llama.cpp counted them. */
  private async chatChoice(
    slot: Slot,
    history: ChatHistoryItem[],
    mode: Mode,
    grammar: LlamaGrammar | undefined,
    out: ChoiceOutput,
    s: Sampling,
    signal: AbortSignal,
  ): Promise<TokenMeterState & { stopSequence: string }> {
    // Each choice starts from an empty sequence: the same seed then gives the same text whatever ran before.
    await slot.sequence.clearHistory();
    const before = slot.sequence.tokenMeter.getState();
    const call = mode.kind === "call" ? new CallStream(out, mode.tools.length === 1 ? mode.tools[0]!.name : null) : undefined;
    const options = {
      ...generation(s, signal),
      onTextChunk: call ? (text: string) => call.push(text) : (text: string) => out.text(text),
    };
    const res =
      mode.kind === "functions"
        ? await slot.chat.generateResponse(history, {
            ...options,
            functions: mode.functions,
            onFunctionCallParamsChunk: (c) => out.toolCall(c.callIndex, c.functionName, c.paramsChunk),
          })
        : await slot.chat.generateResponse(history, { ...options, grammar });
    const cut = res.metadata.stopReason === "maxTokens";
    call?.end(!cut);
    out.finish(cut ? "length" : out.called ? "tool_calls" : "stop");
    return { ...slot.sequence.tokenMeter.diff(before), stopSequence: matchedStop(res.metadata) };
  }

  /** Generates one legacy completion choice from the raw prompt; returns the tokens it read and generated. */
  private async completeChoice(slot: Slot, prompt: string, out: ChoiceOutput, s: Sampling, signal: AbortSignal): Promise<TokenMeterState> {
    await slot.sequence.clearHistory();
    const before = slot.sequence.tokenMeter.getState();
    const res = await slot.completion.generateCompletionWithMeta(prompt, { ...generation(s, signal), onTextChunk: (text) => out.text(text) });
    out.finish(res.metadata.stopReason === "maxTokens" ? "length" : "stop");
    return slot.sequence.tokenMeter.diff(before);
  }
}

/**
 * The prompt tokens a choice evaluated. node-llama-cpp meters the prompt's
 * last token as output, since its logits give the first answer token (and
 * the last answer token is never evaluated, so output stays exact): input is
 * one short. With this, a chat's count equals its tokenized prompt (countTokens).
 */
const promptEvaluated = (used: TokenMeterState): number => used.usedInputTokens + 1;

/**
 * The 400 for a prompt longer than the context, said before generating, with
 * OpenAI's code and words, so clients that handle OpenAI's (trim the history,
 * retry) handle ours. `index`: which input of several.
 */
function contextExceeded(contextSize: number, tokens: number, param: "messages" | "prompt" | "input", index?: number): BrokerError {
  const what = index === undefined ? `your ${param}` : `your ${param}[${index}]`;
  return new BrokerError(
    "context_length_exceeded",
    `This model's maximum context length is ${contextSize} tokens. However, ${what} resulted in ${tokens} tokens. Please reduce the length of the ${param}.`,
    { param },
  );
}

/**
 * Which of the request's stop strings ended the answer: node-llama-cpp names
 * the custom stop trigger that fired (given as a string, it comes back as one).
 */
function matchedStop(meta: { stopReason: string; customStopTrigger?: readonly unknown[] }): string {
  if (meta.stopReason !== "customStopTrigger") return "";
  return (meta.customStopTrigger ?? []).filter((t): t is string => typeof t === "string").join("");
}

/** The node-llama-cpp generation options both generators share. */
function generation(s: Sampling, signal: AbortSignal): Pick<LLamaChatGenerateResponseOptions, "signal" | "maxTokens" | "temperature" | "topP" | "seed" | "customStopTriggers" | "repeatPenalty"> {
  return {
    signal,
    maxTokens: s.maxTokens,
    temperature: s.temperature,
    topP: s.topP,
    seed: s.seed,
    customStopTriggers: s.stops,
    // node-llama-cpp penalizes repeats by default; OpenAI's API does not unless asked.
    repeatPenalty: s.penalties ? { penalty: 1, ...s.penalties } : false,
  };
}
