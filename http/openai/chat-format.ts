// OpenAI's chat completion output, built from a job's chunks: SSE
// `chat.completion.chunk` events for a stream, one `chat.completion` object
// otherwise.
import type { BrokerError, Delta, Final, ToolCallDelta } from "../../contract/mod.js";

const DONE = "data: [DONE]\n\n";

/**
 * Turns deltas into SSE text, one `data:` event per OpenAI chunk. This runs
 * once per token batch, so the constant head of every chunk is built once and
 * only strings from the engine go through JSON.stringify.
 */
export class ChatStream {
  private readonly head: string;
  private readonly tail: string;
  private readonly includeUsage: boolean;
  // Choices that have had their first chunk, which must carry the role.
  private readonly started: boolean[] = [];

  constructor(opts: { id: string; created: number; model: string; includeUsage: boolean }) {
    this.head =
      `data: {"id":${JSON.stringify(opts.id)},"object":"chat.completion.chunk",` +
      `"created":${opts.created},"model":${JSON.stringify(opts.model)},`;
    // OpenAI sends "usage":null on every chunk when the client asked for usage.
    this.tail = opts.includeUsage ? `,"usage":null}\n\n` : `}\n\n`;
    this.includeUsage = opts.includeUsage;
  }

  /** SSE events for a batch of deltas, in order. */
  deltas(items: Delta[]): string {
    let out = "";
    for (const d of items) {
      const index = d.index ?? 0;
      let body = "";
      if (!this.started[index]) {
        this.started[index] = true;
        body = `"role":"assistant"`;
      }
      if (d.content) body += `${body ? "," : ""}"content":${JSON.stringify(d.content)}`;
      if (d.toolCalls?.length) body += `${body ? "," : ""}"tool_calls":${toolCallsJson(d.toolCalls)}`;
      if (d.refusal) body += `${body ? "," : ""}"refusal":${JSON.stringify(d.refusal)}`;
      // OpenAI's first chunk of a plain answer is {"role":"assistant","content":""}.
      if (body === `"role":"assistant"`) body += `,"content":""`;
      if (body) out += this.choice(index, body, "null");
      // The finish reason travels alone, on an empty delta, as OpenAI sends it.
      if (d.finishReason) out += this.choice(index, "", JSON.stringify(d.finishReason));
    }
    return out;
  }

  /** The usage chunk (when asked for) and the closing `[DONE]`. */
  final(f: Final): string {
    if (!this.includeUsage) return DONE;
    const fp = f.systemFingerprint ? `"system_fingerprint":${JSON.stringify(f.systemFingerprint)},` : "";
    return `${this.head}${fp}"choices":[],"usage":${JSON.stringify(usage(f))}}\n\n${DONE}`;
  }

  /** One OpenAI error event; the caller ends the stream after it. */
  error(e: BrokerError): string {
    return `data: ${JSON.stringify(e.toJSON())}\n\n`;
  }

  private choice(index: number, delta: string, finishReason: string): string {
    return `${this.head}"choices":[{"index":${index},"delta":{${delta}},"logprobs":null,"finish_reason":${finishReason}}]${this.tail}`;
  }
}

function toolCallsJson(calls: ToolCallDelta[]): string {
  let out = "";
  for (const c of calls) {
    out += `${out ? "," : ""}{"index":${c.index ?? 0}`;
    if (c.id) out += `,"id":${JSON.stringify(c.id)}`;
    if (c.type) out += `,"type":${JSON.stringify(c.type)}`;
    // `arguments` is always present so clients can append without a check.
    const name = c.name ? `"name":${JSON.stringify(c.name)},` : "";
    out += `,"function":{${name}"arguments":${JSON.stringify(c.arguments ?? "")}}}`;
  }
  return `[${out}]`;
}

export function usage(f: Final): ChatCompletion["usage"] {
  const prompt = f.usage?.promptTokens ?? 0;
  const completion = f.usage?.completionTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** An OpenAI `chat.completion` object. */
export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: {
    index: number;
    message: {
      role: "assistant";
      content: string | null;
      refusal: string | null;
      tool_calls?: { id: string; type: string; function: { name: string; arguments: string } }[];
      annotations: never[];
    };
    logprobs: null;
    finish_reason: string;
  }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  system_fingerprint?: string;
}

interface ChoiceState {
  content: string;
  refusal: string;
  finishReason: string;
  toolCalls: Map<number, { id: string; type: string; name: string; arguments: string }>;
}

/** Merges a job's deltas into one `chat.completion` for a non-stream request. */
export class ChatAggregator {
  private readonly choices = new Map<number, ChoiceState>();

  reset(): void {
    this.choices.clear();
  }

  add(items: Delta[]): void {
    for (const d of items) {
      const index = d.index ?? 0;
      let c = this.choices.get(index);
      if (!c) {
        c = { content: "", refusal: "", finishReason: "", toolCalls: new Map() };
        this.choices.set(index, c);
      }
      if (d.content) c.content += d.content;
      if (d.refusal) c.refusal += d.refusal;
      if (d.finishReason) c.finishReason = d.finishReason;
      for (const t of d.toolCalls ?? []) {
        const i = t.index ?? 0;
        let call = c.toolCalls.get(i);
        if (!call) {
          call = { id: "", type: "", name: "", arguments: "" };
          c.toolCalls.set(i, call);
        }
        // id, type and name arrive once, on the call's first delta.
        call.id ||= t.id ?? "";
        call.type ||= t.type ?? "";
        call.name ||= t.name ?? "";
        call.arguments += t.arguments ?? "";
      }
    }
  }

  result(opts: { id: string; created: number; model: string; final: Final }): ChatCompletion {
    const choices = [...this.choices].sort(([a], [b]) => a - b).map(([index, c]) => {
      const calls = [...c.toolCalls].sort(([a], [b]) => a - b);
      const message: ChatCompletion["choices"][number]["message"] = {
        role: "assistant",
        // OpenAI gives null, not "", when the turn is only tool calls or a refusal.
        content: c.content || (calls.length || c.refusal ? null : ""),
        refusal: c.refusal || null,
        annotations: [],
      };
      if (calls.length) {
        message.tool_calls = calls.map(([, t]) => ({
          id: t.id,
          type: t.type || "function",
          function: { name: t.name, arguments: t.arguments },
        }));
      }
      // A Final after the last delta means the engine ended normally.
      return { index, message, logprobs: null, finish_reason: c.finishReason || "stop" };
    });
    const out: ChatCompletion = {
      id: opts.id,
      object: "chat.completion",
      created: opts.created,
      model: opts.model,
      choices,
      usage: usage(opts.final),
    };
    if (opts.final.systemFingerprint) out.system_fingerprint = opts.final.systemFingerprint;
    return out;
  }
}
