// The results file (for tools) and the table (for people and the README).
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, freemem, loadavg, release, totalmem, type as osType } from "node:os";
import { join } from "node:path";
import { AUTH } from "./auth.js";
import type { SystemResult } from "./measure.js";
import type { ScenarioResult } from "./scenarios.js";
import { round } from "./stats.js";

export interface Report {
  machine: Record<string, unknown>;
  date: string;
  commit: string;
  command: string;
  settings: Record<string, unknown>;
  scenarios: ScenarioResult[];
  targets: { target: string; value: number; met: boolean }[];
  errors?: string[];
  profile?: { file: string; rps: number; groups: unknown; modules: unknown; functions: unknown };
}

export function machine(natsVersion: string): Record<string, unknown> {
  const c = cpus();
  return {
    cpus: c.length,
    cpu_model: c[0]?.model ?? "unknown",
    memory_gb: round(totalmem() / 2 ** 30),
    free_memory_gb_at_start: round(freemem() / 2 ** 30),
    load_avg_at_start: loadavg().map(round),
    os: `${osType()} ${release()}`,
    node: process.version,
    nats_server: natsVersion,
  };
}

const n = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? "—" : v.toLocaleString("en-US"));
const range = (m: number | undefined, lo: number | undefined, hi: number | undefined): string =>
  m === undefined ? "—" : `${n(m)} (${n(lo)}–${n(hi)})`;

/** Checks the issue's targets against the figures; a missing figure counts as missed. */
export function targets(scenarios: ScenarioResult[]): Report["targets"] {
  const get = (name: string) => scenarios.find((s) => s.name === name);
  const out: Report["targets"] = [];
  const ns = get("nonstream-c32")?.ratios["broker/jetstream-floor"];
  if (ns !== undefined) out.push({ target: "non-stream c32: broker ≥ 0.7 × JetStream floor", value: ns, met: ns >= 0.7 });
  const tps = (get("stream256-c32")?.results.broker as SystemResult | undefined)?.tokens_per_s;
  if (tps !== undefined) out.push({ target: "stream 256 chunks: ≥ 100,000 tokens/s relayed", value: tps, met: tps >= 100_000 });
  // Per stream: with the zero-work sim a 256-token stream is ~4 delta events, so this is not a per-event figure.
  const resp = get("responses-stream256-c32")?.ratios["responses/chat tokens_per_s"];
  if (resp !== undefined) out.push({ target: "stream 256 tokens, per stream: responses stream ≥ 0.8 × chat stream (tokens/s)", value: resp, met: resp >= 0.8 });
  // The issue's "per-event cost within 20% of chat's per-chunk cost": every token its own event, CPU per event.
  const perEvent = get("responses-events-c32")?.ratios["responses/chat gateway cpu per event"];
  if (perEvent !== undefined) out.push({ target: "stream, 1 token per event: responses per-event gateway CPU ≤ 1.2 × chat's", value: perEvent, met: perEvent <= 1.2 });
  const ttft = get("ttft-c1")?.ratios["broker-direct ttft_p50_ms"];
  if (ttft !== undefined) out.push({ target: "TTFT added over direct, p50 at 1 connection ≤ 1 ms", value: ttft, met: ttft <= 1 });
  const auth = get(AUTH)?.ratios["auth-on/auth-off"];
  if (auth !== undefined) out.push({ target: "non-stream c32: auth on (generous limits) ≥ 0.85 × auth off", value: auth, met: auth >= 0.85 });
  const llama = get("llama")?.ratios["broker/direct"];
  if (llama !== undefined) out.push({ target: "llama-cpp: broker ≥ 0.95 × node-llama-cpp direct (tokens/s)", value: llama, met: llama >= 0.95 });
  const b = get("burst")?.results.broker as Record<string, number> | undefined;
  if (b) {
    out.push({ target: `burst: ${b.requests} of ${b.requests} complete`, value: b.completed ?? 0, met: b.completed === b.requests });
    out.push({ target: "burst: 0 5xx", value: b.status5xx ?? Number.NaN, met: b.status5xx === 0 });
    out.push({ target: "burst: gateway peak RSS ≤ 256 MB", value: b.gateway_peak_rss_mb ?? Number.NaN, met: (b.gateway_peak_rss_mb ?? Infinity) <= 256 });
  }
  return out;
}

/** The whole report as Markdown tables: printed at the end of a run and saved beside the JSON. */
export function markdown(r: Report): string {
  const lines: string[] = [];
  const m = r.machine;
  lines.push(`${r.date} · commit ${r.commit} · ${String(m.cpus)} × ${String(m.cpu_model)}, ${String(m.memory_gb)} GB · ${String(m.os)} · Node ${String(m.node)} · ${String(m.nats_server)}`);
  lines.push(`\`${r.command}\` · ${String(r.settings.rounds)} rounds × ${String(r.settings.duration_s)} s (after ${String(r.settings.warmup_s)} s warm-up), medians with min–max; CPU µs per request by process (loadgen: the load generator); other CPU: processes the bench did not start, % of the machine\n`);
  lines.push("| scenario | system | req/s or streams/s | tokens/s | p50 ms | p99 ms | TTFT p50 / p99 ms | non-2xx / failed | CPU µs per request | other CPU % |");
  lines.push("|---|---|---|---|---|---|---|---|---|---|");
  for (const s of r.scenarios) {
    if (s.name === "burst") continue;
    if (s.name === "llama") {
      for (const [system, raw] of Object.entries(s.results)) lines.push(`| llama | ${system} | — | ${n((raw as { tokens_per_s: number }).tokens_per_s)} | | | | | | |`);
      continue;
    }
    for (const [system, raw] of Object.entries(s.results)) {
      const x = raw as SystemResult;
      const ttft = x.ttft_p50_ms === undefined ? "—" : `${n(x.ttft_p50_ms)} / ${n(x.ttft_p99_ms)}`;
      const cpu = Object.entries(x.cpu_us_per_req).map(([role, us]) => `${role} ${n(Math.round(us))}`).join(", ");
      lines.push(`| ${s.name} | ${system} | ${range(x.rps, x.rps_min, x.rps_max)} | ${range(x.tokens_per_s, x.tokens_per_s_min, x.tokens_per_s_max)} | ${n(x.p50_ms)} | ${n(x.p99_ms)} | ${ttft} | ${x.non2xx} / ${x.failed} | ${cpu} | ${n(x.foreign_cpu_pct)} (max ${n(x.foreign_cpu_pct_max)}) |`);
    }
  }
  lines.push("\n| scenario | ratios |\n|---|---|");
  for (const s of r.scenarios) {
    const rs = Object.entries(s.ratios).map(([k, v]) => `${k} ${n(v)}`).join(" · ");
    lines.push(`| ${s.name} | ${rs}${s.notes && s.name !== "burst" ? ` (${s.notes.join("; ")})` : ""} |`);
  }
  const burst = r.scenarios.find((s) => s.name === "burst");
  const b = burst?.results.broker as Record<string, number> | undefined;
  if (burst && b) {
    lines.push(`\nBurst: ${burst.description}\n`);
    lines.push("| completed | non-2xx | 5xx | wall s | req/s | latency p50 / p99 ms | queue wait p50 / p99 ms | gateway RSS idle → peak MB | worker RSS peak MB |");
    lines.push("|---|---|---|---|---|---|---|---|---|");
    lines.push(`| ${n(b.completed)} / ${n(b.requests)} | ${n(b.non2xx)} | ${n(b.status5xx)} | ${n(b.wall_s)} | ${n(b.rps)} | ${n(b.p50_ms)} / ${n(b.p99_ms)} | ${n(b.queue_wait_p50_ms)} / ${n(b.queue_wait_p99_ms)} | ${n(b.gateway_idle_rss_mb)} → ${n(b.gateway_peak_rss_mb)} | ${n(b.worker_peak_rss_mb)} |`);
  }
  if (r.targets.length) {
    lines.push("\n| target | value | met |\n|---|---|---|");
    for (const t of r.targets) lines.push(`| ${t.target} | ${n(t.value)} | ${t.met ? "yes" : "**no**"} |`);
  }
  for (const e of r.errors ?? []) lines.push(`\n**error**: ${e}`);
  return lines.join("\n");
}

/** Writes results/<stamp>.json, results/latest.json and results/latest.md. */
export function writeReport(dir: string, stamp: string, r: Report): string[] {
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(r, null, 2)}\n`;
  const files = [join(dir, `${stamp}.json`), join(dir, "latest.json")];
  for (const f of files) writeFileSync(f, json);
  const md = join(dir, "latest.md");
  writeFileSync(md, `${markdown(r)}\n`);
  return [...files, md];
}
