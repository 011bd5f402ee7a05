// One CPU profile of a gateway under the non-stream 32-connection load. The
// profiled gateway is a second process on the same config, so the profiler's
// overhead never touches the measured figures; it writes its profile on a
// clean exit (SIGTERM → drain → exit), which stopProc waits for.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { summarizeProfile, formatSummary, type CpuProfile, type ProfileSummary } from "./cpuprofile-summary.js";
import { runLoadgen } from "./measure.js";
import { stopProc } from "./procs.js";
import { chatBody, type Timing } from "./scenarios.js";
import { round } from "./stats.js";
import type { Broker } from "./systems.js";

export interface ProfileResult {
  file: string;
  rps: number;
  summary: ProfileSummary;
  text: string;
}

export async function runProfile(broker: Broker, timing: Timing, dir: string, stamp: string, log: (s: string) => void): Promise<ProfileResult> {
  mkdirSync(dir, { recursive: true });
  const name = `gateway-nonstream-c32-${stamp}.cpuprofile`;
  // The profile starts with the process: its clock is the time since spawn, near enough.
  const spawned = performance.now();
  const gw = await broker.extraGateway(["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}`]);
  let rps = Number.NaN;
  const fromMs = performance.now() - spawned + timing.warmupMs;
  try {
    const r = await runLoadgen({
      target: { kind: "http", url: `${gw.url}/v1/chat/completions`, bodies: [chatBody(false, 16)], stream: false },
      connections: 32, warmupMs: timing.warmupMs, durationMs: timing.durationMs, timeoutMs: 30_000,
    });
    rps = r.rps;
    log(`  profile: gateway under --cpu-prof did ${round(r.rps)} req/s`);
  } finally {
    await stopProc(gw.proc, 30_000);
  }
  const file = join(dir, name);
  if (!existsSync(file)) throw new Error(`the profiled gateway left no ${file}:\n${gw.proc.output()}`);
  // Only the measured window: start-up (module loading) and the warm-up would blur the hot path.
  const summary = summarizeProfile(JSON.parse(readFileSync(file, "utf8")) as CpuProfile, 20, { fromMs, toMs: fromMs + timing.durationMs });
  return { file, rps: round(rps), summary, text: formatSummary(summary) };
}
