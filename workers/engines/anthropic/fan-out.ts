// n > 1 for an API without n: n upstream requests in parallel, choice i from
// request i. The first failure cancels the others; usage is the sum, which is
// what the upstream bills.
import type { InferenceJob } from "../../../contract/mod.js";
import type { DeltaSink, RunContext, RunResult } from "../../engine.js";

/** Runs `one` n times, each writing its deltas as choice i. */
export async function fanOut(n: number, job: InferenceJob, sink: DeltaSink, ctx: RunContext,
  one: (sink: DeltaSink, ctx: RunContext) => Promise<RunResult>): Promise<RunResult> {
  const all = new AbortController();
  const onAbort = (): void => all.abort(ctx.signal.reason);
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  let failure: unknown;
  try {
    const settled = await Promise.allSettled(Array.from({ length: n }, (_, i) =>
      one({ delta: (d) => sink.delta({ ...d, index: i }) }, { ...ctx, signal: all.signal }).catch((err: unknown) => {
        if (!all.signal.aborted) {
          failure = err;
          all.abort(err);
        }
        throw err;
      })));
    ctx.signal.throwIfAborted();
    const results: RunResult[] = [];
    for (const r of settled) {
      if (r.status === "rejected") throw failure ?? r.reason;
      results.push(r.value);
    }
    const sum = (f: "promptTokens" | "completionTokens"): number => results.reduce((s, r) => s + (r.usage[f] ?? 0), 0);
    // The job's final names one stop sequence and stop reason: choice 0's.
    const { stopSequence, stopReason } = results[0] ?? {};
    return {
      usage: { promptTokens: sum("promptTokens"), completionTokens: sum("completionTokens") },
      model: results[0]?.model ?? job.model,
      ...(stopSequence ? { stopSequence } : {}),
      ...(stopReason ? { stopReason } : {}),
    };
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
  }
}
