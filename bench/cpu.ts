// CPU accounting per run, from /proc: how much CPU each process of the system
// under test spent per request (a figure that contention barely moves), and how
// much CPU processes the bench did not start took meanwhile (this machine is
// shared; a round with a busy neighbour is visible instead of silently slow).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";

const TICK_MS = 1000 / (Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100);

/** utime + stime of a process in ms; null once it is gone or off Linux. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may itself contain spaces and parentheses.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return null;
  }
}

/** Busy CPU time of the whole machine in ms (all cores), from /proc/stat. */
export function machineBusyMs(): number | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((s, x) => s + x, 0);
    return (total - (v[3] ?? 0) - (v[4] ?? 0)) * TICK_MS;
  } catch {
    return null;
  }
}

export interface CpuUse {
  /** CPU ms per process over the run, by role. */
  ms: Record<string, number>;
  wallMs: number;
  /** CPU that neither the measured processes, the load generator nor the harness used, in % of the machine. */
  foreignPct: number | null;
}

/** Starts measuring the given processes; `stop` takes the load generator's own CPU (it has exited by then). */
export function meterCpu(pids: Record<string, number>): { stop(loadgenMs: number): CpuUse } {
  const t0 = performance.now();
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, processCpuMs(pid)]));
  const self0 = process.cpuUsage();
  const busy0 = machineBusyMs();
  return {
    stop: (loadgenMs) => {
      const ms: Record<string, number> = {};
      let ours = loadgenMs;
      for (const [k, pid] of Object.entries(pids)) {
        const a = before[k];
        const b = processCpuMs(pid);
        if (a == null || b == null) continue;
        ms[k] = b - a;
        ours += b - a;
      }
      const self = process.cpuUsage(self0);
      ours += (self.user + self.system) / 1000;
      const busy1 = machineBusyMs();
      const wallMs = performance.now() - t0;
      const foreign = busy0 === null || busy1 === null ? null : Math.max(0, busy1 - busy0 - ours) / (wallMs * cpus().length) * 100;
      return { ms, wallMs, foreignPct: foreign };
    },
  };
}

/**
 * Between runs nothing of ours is busy, so the machine's busy share is other
 * people's work. Waits (at most `maxWaitMs`) until it falls under `pct`;
 * returns how long it waited. Off Linux it returns at once.
 */
export async function waitForQuiet(pct: number, maxWaitMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const a = machineBusyMs();
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, 300));
    const b = machineBusyMs();
    if (a === null || b === null) return 0;
    const busy = ((b - a) / ((performance.now() - w0) * cpus().length)) * 100;
    if (busy < pct || performance.now() - t0 > maxWaitMs) return performance.now() - t0;
  }
}

/**
 * CPU each process used over `ms` of wall time, in % of one core, from
 * /proc/<pid>/stat (so a tick, 10 ms on Linux, is the resolution: over 3 s,
 * 0.33%). Nothing is sent meanwhile: with idle processes this is their idle cost.
 */
export async function cpuPctOver(pids: Record<string, number>, ms: number): Promise<Record<string, number>> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, processCpuMs(pid)]));
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const wallMs = performance.now() - t0;
  const out: Record<string, number> = {};
  for (const [k, pid] of Object.entries(pids)) {
    const a = before[k];
    const b = processCpuMs(pid);
    if (a != null && b != null) out[k] = ((b - a) / wallMs) * 100;
  }
  return out;
}
