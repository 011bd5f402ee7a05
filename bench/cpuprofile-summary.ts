#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`) by self time: the top
// functions, the modules that own them, and coarse groups (nats, fastify,
// protobuf, GC…), as shares of the busy (non-idle) time.
//   node dist/bench/cpuprofile-summary.js FILE.cpuprofile [--top N] [--from S] [--to S]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Entry {
  name: string;
  selfMs: number;
  /** Share of busy time (total minus idle), in percent. */
  pct: number;
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  functions: Entry[];
  modules: Entry[];
  groups: Entry[];
}

/** Where a frame's code lives: an npm package, a node: built-in, a project file, or a V8 pseudo-frame. */
function moduleOf(f: ProfileNode["callFrame"]): string {
  const url = f.url;
  if (!url) return f.functionName.startsWith("(") ? f.functionName : "(native)";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const parts = url.slice(nm + 14).split("/");
    return parts[0]?.startsWith("@") ? `${parts[0]}/${parts[1] ?? ""}` : (parts[0] ?? url);
  }
  if (url.startsWith("node:")) return url;
  const dist = url.indexOf("/dist/");
  return dist >= 0 ? url.slice(dist + 6) : url;
}

const GROUPS: [RegExp, string][] = [
  [/^@nats-io\//, "nats client"],
  [/^(fastify|find-my-way|avvio|light-my-request|fast-json-stringify|@fastify\/.*|secure-json-parse|fast-querystring|toad-cache|rfdc|process-warning|abstract-logging)$/, "fastify"],
  [/^(pino|pino-std-serializers|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|on-exit-leak-free|atomic-sleep)$/, "pino"],
  [/^(protobufjs|@protobufjs\/.*|long)$|^proto\//, "protobuf"],
  [/^zod$/, "zod"],
  [/^node:(_http|internal\/http|http|https|internal\/streams|stream|internal\/stream_base|net|internal\/net|internal\/js_stream)/, "node http/net/streams"],
  [/^node:/, "node other"],
  [/^(broker|facade|workers|scripts)\//, "project"],
  [/^\(garbage collector\)$/, "GC"],
  [/^\(program\)$/, "V8/native (program)"],
  [/^\(idle\)$/, "idle"],
];

function groupOf(mod: string): string {
  for (const [re, g] of GROUPS) if (re.test(mod)) return g;
  return mod.startsWith("(") ? "V8/native (program)" : "other";
}

function top(map: Map<string, number>, busyMs: number, n: number): Entry[] {
  return [...map]
    .filter(([k]) => k !== "(idle)" && k !== "idle")
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, pct: Math.round((us / 1000 / busyMs) * 1000) / 10 }));
}

// A package or project file owns a frame; node internals and native code do not.
const owns = (m: string): boolean => !m.startsWith("node:") && !m.startsWith("(");

/**
 * The module a frame's time is charged to: its own when it is a package or
 * project file; otherwise (node internals, native calls such as a socket's
 * writeBuffer) the nearest caller that is one. A syscall then shows up under
 * the library that made it, which is what one can change.
 */
function owners(p: CpuProfile): (id: number) => string {
  const byId = new Map(p.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of p.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const memo = new Map<number, string>();
  const of = (id: number): string => {
    const hit = memo.get(id);
    if (hit !== undefined) return hit;
    const node = byId.get(id);
    const own = node ? moduleOf(node.callFrame) : "(unknown)";
    const up = parent.get(id);
    // GC, idle and (program) have no meaningful caller.
    const r = owns(own) || up === undefined || /^\((garbage collector|idle|program|root)\)$/.test(own) ? own : of(up);
    memo.set(id, r);
    return r;
  };
  return (id) => {
    const r = of(id);
    return owns(r) || !byId.get(id) ? r : moduleOf((byId.get(id) as ProfileNode).callFrame);
  };
}

/**
 * Self time by function, and by owning module and group (see owners()).
 * `window` (ms from the profile's start) keeps only the samples inside it,
 * e.g. the measured load without start-up and shutdown.
 */
export function summarizeProfile(p: CpuProfile, n = 20, window?: { fromMs: number; toMs: number }): ProfileSummary {
  const byId = new Map(p.nodes.map((node) => [node.id, node]));
  const ownerOf = owners(p);
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  const grp = new Map<string, number>();
  let total = 0;
  let idle = 0;
  let at = 0;
  // timeDeltas[i] is the time between sample i-1 and sample i; it is charged to sample i.
  p.samples.forEach((id, i) => {
    const us = Math.max(0, p.timeDeltas[i] ?? 0);
    at += us;
    if (window && (at < window.fromMs * 1000 || at > window.toMs * 1000)) return;
    const node = byId.get(id);
    if (!node) return;
    const f = node.callFrame;
    const self = moduleOf(f);
    const owner = ownerOf(id);
    const where = f.url ? `${self}:${f.lineNumber + 1}` : "";
    const name = `${f.functionName || "(anonymous)"} ${where}${owner !== self ? ` ← ${owner}` : ""}`.trim();
    total += us;
    if (self === "(idle)") idle += us;
    fn.set(name, (fn.get(name) ?? 0) + us);
    mod.set(owner, (mod.get(owner) ?? 0) + us);
    const g = groupOf(owner);
    grp.set(g, (grp.get(g) ?? 0) + us);
  });
  const busyMs = (total - idle) / 1000;
  return { totalMs: Math.round(total / 1000), busyMs: Math.round(busyMs), functions: top(fn, busyMs, n), modules: top(mod, busyMs, n), groups: top(grp, busyMs, n) };
}

export function formatSummary(s: ProfileSummary): string {
  const table = (title: string, rows: Entry[]): string =>
    `${title}\n${rows.map((r) => `  ${r.pct.toFixed(1).padStart(5)}%  ${String(r.selfMs).padStart(8)} ms  ${r.name}`).join("\n")}`;
  return [
    `profile: ${s.totalMs} ms sampled, ${s.busyMs} ms busy (shares below are of busy time)`,
    table("by group (node internals and native calls charged to the package or file that called them):", s.groups),
    table("by module (charged the same way):", s.modules),
    table("by function (self time; ← the module it is charged to):", s.functions),
  ].join("\n\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: cpuprofile-summary FILE.cpuprofile [--top N] [--from S] [--to S]  (S: seconds from the profile's start)");
    process.exit(2);
  }
  const { values } = parseArgs({ args: process.argv.slice(3), options: { top: { type: "string" }, from: { type: "string" }, to: { type: "string" } } });
  const window = values.from || values.to ? { fromMs: Number(values.from ?? 0) * 1000, toMs: Number(values.to ?? Infinity) * 1000 } : undefined;
  console.log(formatSummary(summarizeProfile(JSON.parse(readFileSync(file, "utf8")) as CpuProfile, Number(values.top ?? 20), window)));
}
