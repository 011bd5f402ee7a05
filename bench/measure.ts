// Runs the load generator as a child process, alternates systems over rounds
// and folds the rounds into medians.
import { meterCpu, waitForQuiet, type CpuUse } from "./cpu.js";
import type { LoadResult, LoadSpec, Percentiles } from "./loadgen.js";
import { spawnProc, stopProc } from "./procs.js";
import { round, spread, type Spread } from "./stats.js";
import { LOADGEN } from "./systems.js";

/** One load run in a fresh process; bounded by its own clock plus a margin. */
export async function runLoadgen(spec: LoadSpec): Promise<LoadResult> {
  const p = spawnProc("loadgen", process.execPath, [LOADGEN, JSON.stringify(spec)]);
  const limit = spec.warmupMs + spec.durationMs + spec.timeoutMs + 15_000;
  const timer = setTimeout(() => void stopProc(p, 1000), limit);
  const code = await p.exited;
  clearTimeout(timer);
  const line = p.output().trim().split("\n").reverse().find((l) => l.startsWith("{"));
  if (code !== 0 || !line) throw new Error(`load generator failed (exit ${String(code)}):\n${p.output()}`);
  return JSON.parse(line) as LoadResult;
}

/** A load run with the CPU each process of the system spent meanwhile. */
export type Run = LoadResult & { cpu: CpuUse };

/** Runs the load while metering the CPU of `pids` (role → pid) and of everything else on the machine. */
export async function runMetered(spec: LoadSpec, pids: Record<string, number>): Promise<Run> {
  // This machine may be shared: give a busy neighbour up to 10 s to calm down, so fewer rounds are skewed.
  await waitForQuiet(25, 10_000);
  const meter = meterCpu(pids);
  const r = await runLoadgen(spec);
  return { ...r, cpu: meter.stop(r.cpuMs) };
}

/** One system's figures in a scenario: medians over rounds, with min–max for the headline rates. */
export interface SystemResult {
  rps: number;
  rps_min: number;
  rps_max: number;
  tokens_per_s?: number;
  tokens_per_s_min?: number;
  tokens_per_s_max?: number;
  p50_ms: number;
  p99_ms: number;
  ttft_p50_ms?: number;
  ttft_p99_ms?: number;
  /** Sums over rounds: answers that were not a complete 2xx. */
  non2xx: number;
  failed: number;
  rounds: number;
  per_round_rps: number[];
  /** CPU µs per answered request, by process (median over rounds): where a request's cost goes. */
  cpu_us_per_req: Record<string, number>;
  /** CPU used by processes the bench did not start, in % of the machine: median and worst round. */
  foreign_cpu_pct: number;
  foreign_cpu_pct_max: number;
}

const med = (xs: number[]): number => round(spread(xs).median);

export function fold(runs: Run[], withTokens: boolean): SystemResult {
  const rps: Spread = spread(runs.map((r) => r.rps));
  const roles = [...new Set(runs.flatMap((r) => [...Object.keys(r.cpu.ms), "loadgen"]))];
  const perReq = (r: Run, role: string): number => ((role === "loadgen" ? r.cpuMs : (r.cpu.ms[role] ?? Number.NaN)) / r.allCompleted) * 1000;
  const foreign = spread(runs.map((r) => r.cpu.foreignPct ?? Number.NaN));
  const out: SystemResult = {
    rps: round(rps.median),
    rps_min: round(rps.min),
    rps_max: round(rps.max),
    p50_ms: med(runs.map((r) => r.latencyMs.p50)),
    p99_ms: med(runs.map((r) => r.latencyMs.p99)),
    non2xx: runs.reduce((s, r) => s + r.non2xx, 0),
    failed: runs.reduce((s, r) => s + r.failed, 0),
    rounds: runs.length,
    per_round_rps: runs.map((r) => round(r.rps)),
    cpu_us_per_req: Object.fromEntries(roles.map((role) => [role, med(runs.map((r) => perReq(r, role)))])),
    foreign_cpu_pct: round(foreign.median),
    foreign_cpu_pct_max: round(foreign.max),
  };
  if (withTokens) {
    const t = spread(runs.map((r) => r.tokensPerS));
    out.tokens_per_s = round(t.median);
    out.tokens_per_s_min = round(t.min);
    out.tokens_per_s_max = round(t.max);
  }
  const ttft = runs.map((r) => r.ttftMs).filter((t): t is Percentiles => t !== null);
  if (ttft.length) {
    out.ttft_p50_ms = med(ttft.map((t) => t.p50));
    out.ttft_p99_ms = med(ttft.map((t) => t.p99));
  }
  return out;
}

/** One system of a scenario: the load it gets and the processes metered meanwhile (role → pid). */
export interface MeteredSystem {
  name: string;
  spec: LoadSpec;
  pids: Record<string, number>;
  /** Streamed answers: tokens/s is reported. */
  stream: boolean;
}

/**
 * Runs every system once per round, in an order rotated each round so no
 * system always runs first (or right after another's GC); `log` reports each
 * run as it ends. Returns each system's medians over the rounds.
 */
export async function runAlternating(scenario: string, systems: MeteredSystem[], rounds: number, log: (s: string) => void): Promise<Record<string, SystemResult>> {
  const runs: Record<string, Run[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < systems.length; i++) {
      const sys = systems[(i + r) % systems.length] as MeteredSystem;
      const res = await runMetered(sys.spec, sys.pids);
      (runs[sys.name] ??= []).push(res);
      const extra = res.ttftMs ? ` ttft p50 ${round(res.ttftMs.p50)} ms` : "";
      const bad = res.failed + res.non2xx ? ` (${res.non2xx} non-2xx, ${res.failed} failed)` : "";
      const foreign = res.cpu.foreignPct === null ? "" : `, other processes ${round(res.cpu.foreignPct)}% CPU`;
      log(`  ${scenario} round ${r + 1}/${rounds} ${sys.name}: ${round(res.rps)} req/s, p50 ${round(res.latencyMs.p50)} ms, p99 ${round(res.latencyMs.p99)} ms${extra}${bad}${foreign}`);
    }
  }
  return Object.fromEntries(systems.map((sys) => [sys.name, fold(runs[sys.name] ?? [], sys.stream)]));
}
