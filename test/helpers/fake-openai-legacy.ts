// The fake OpenAI server's /v1/completions (legacy) and /v1/embeddings, in
// OpenAI's exact wire format.
import type { ServerResponse } from "node:http";

interface CompletionBody {
  model?: string;
  prompt?: string | string[];
  max_tokens?: number;
  n?: number;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  echo?: boolean;
  stop?: string | string[];
}

/** The tokens up to the first stop string, the last one cut short; undefined when no stop string occurs. */
export function cutAtStop(tokens: string[], stop: string | string[] | undefined): string[] | undefined {
  const stops = typeof stop === "string" ? [stop] : (stop ?? []);
  const full = tokens.join("");
  const cut = Math.min(...stops.map((s) => full.indexOf(s)).filter((p) => p >= 0));
  if (!Number.isFinite(cut)) return undefined;
  const pieces: string[] = [];
  for (let at = 0, t = 0; at < cut; at += tokens[t]!.length, t++) pieces.push(tokens[t]!.slice(0, cut - at));
  return pieces;
}

/** Each prompt's words, repeated up to max_tokens (default 16, OpenAI's) or a stop string. */
export function answerCompletion(res: ServerResponse, body: CompletionBody): void {
  const prompts = typeof body.prompt === "string" ? [body.prompt] : (body.prompt ?? [""]);
  const n = body.n ?? 1;
  const max = body.max_tokens ?? 16;
  const base = { id: "cmpl-fake", object: "text_completion", created: 1700000000, model: body.model ?? "fake-model" };
  const choices = prompts.flatMap((p, pi) => Array.from({ length: n }, (_, i) => {
    const words = p.split(/\s+/).filter(Boolean);
    if (words.length === 0) words.push("fake");
    const count = Math.min(max, 8);
    const all = Array.from({ length: count }, (_, t) => ` ${words[t % words.length]}`);
    const stopped = cutAtStop(all, body.stop);
    const tokens = stopped ?? all;
    return { index: pi * n + i, tokens: body.echo ? [p, ...tokens] : tokens, finish: !stopped && count < 8 ? "length" : "stop" };
  }));
  const completion = choices.reduce((s, c) => s + c.tokens.length, 0);
  const usage = { prompt_tokens: prompts.length * 3, completion_tokens: completion, total_tokens: prompts.length * 3 + completion };
  if (!body.stream) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ ...base, choices: choices.map((c) => ({ text: c.tokens.join(""), index: c.index, logprobs: null, finish_reason: c.finish })), usage }));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  for (const c of choices) {
    c.tokens.forEach((t, k) => {
      const finish = k === c.tokens.length - 1 ? c.finish : null;
      res.write(`data: ${JSON.stringify({ ...base, choices: [{ text: t, index: c.index, logprobs: null, finish_reason: finish }] })}\n\n`);
    });
  }
  if (body.stream_options?.include_usage) res.write(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
  res.end("data: [DONE]\n\n");
}

/** Vectors of 8 numbers derived from each input's characters, so tests can predict them. */
export function fakeVector(text: string): number[] {
  return Array.from({ length: 8 }, (_, i) => (text.charCodeAt(i % text.length) % 17) / 16 - i / 8);
}

export function answerEmbeddings(res: ServerResponse, body: { model?: string; input?: string | string[] }): void {
  const inputs = typeof body.input === "string" ? [body.input] : (body.input ?? []);
  const tokens = inputs.reduce((s, t) => s + t.split(/\s+/).filter(Boolean).length, 0);
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({
    object: "list",
    data: inputs.map((t, index) => ({ object: "embedding", index, embedding: fakeVector(t) })),
    model: body.model ?? "fake-embed",
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  }));
}
