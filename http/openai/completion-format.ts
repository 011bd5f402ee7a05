// OpenAI's legacy `text_completion` output, built from a job's chunks.
import type { BrokerError, Delta, Final } from "../../contract/mod.js";
import { usage } from "./chat-format.js";

const DONE = "data: [DONE]\n\n";

export interface TextCompletion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices: { text: string; index: number; logprobs: null; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/** SSE `text_completion` events; the constant head of each event is built once. */
export class CompletionStream {
  private readonly head: string;
  private readonly tail: string;
  private readonly includeUsage: boolean;

  constructor(opts: { id: string; created: number; model: string; includeUsage: boolean }) {
    this.includeUsage = opts.includeUsage;
    this.head = `data: {"id":${JSON.stringify(opts.id)},"object":"text_completion","created":${opts.created},"model":${JSON.stringify(opts.model)},`;
    this.tail = opts.includeUsage ? `,"usage":null}\n\n` : `}\n\n`;
  }

  deltas(items: Delta[]): string {
    let out = "";
    for (const d of items) {
      // Unlike chat, OpenAI sends the finish reason on the chunk with the last text.
      const finish = d.finishReason ? JSON.stringify(d.finishReason) : "null";
      if (!d.content && !d.finishReason) continue;
      out += `${this.head}"choices":[{"text":${JSON.stringify(d.content ?? "")},"index":${d.index ?? 0},"logprobs":null,"finish_reason":${finish}}]${this.tail}`;
    }
    return out;
  }

  final(f: Final): string {
    if (!this.includeUsage) return DONE;
    return `${this.head}"choices":[],"usage":${JSON.stringify(usage(f))}}\n\n${DONE}`;
  }

  error(e: BrokerError): string {
    return `data: ${JSON.stringify(e.toJSON())}\n\n`;
  }
}

/** Collects deltas into one `text_completion` object. */
export class CompletionAggregator {
  private readonly choices = new Map<number, { text: string; finish: string }>();

  reset(): void {
    this.choices.clear();
  }

  add(items: Delta[]): void {
    for (const d of items) {
      const index = d.index ?? 0;
      const c = this.choices.get(index) ?? { text: "", finish: "" };
      c.text += d.content ?? "";
      if (d.finishReason) c.finish = d.finishReason;
      this.choices.set(index, c);
    }
  }

  result(opts: { id: string; created: number; model: string; final: Final }): TextCompletion {
    const choices = [...this.choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, c]) => ({ text: c.text, index, logprobs: null, finish_reason: c.finish || "stop" }));
    return { id: opts.id, object: "text_completion", created: opts.created, model: opts.model, choices, usage: usage(opts.final) };
  }
}
