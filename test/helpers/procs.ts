import { readdirSync, readFileSync } from "node:fs";

// Tests learn the pids that `broker up` spawned from /proc, not from its logs: a child's log line
// may not be written yet, and /proc/<pid>/task/*/children needs a kernel option this machine lacks.

/** Fields of /proc/<pid>/stat after the command name, which may itself hold spaces and parentheses. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** True while the process runs (or is stopped); a zombie nobody reaped yet counts as gone. */
export function isAlive(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== "Z" && state !== "X";
}

/** The command line, arguments joined by spaces ("" once the process is gone). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** The live direct children of `pid`. */
export function childPids(pid: number): number[] {
  const kids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && f[1] === String(pid) && f[0] !== "Z") kids.push(Number(name));
  }
  return kids;
}
