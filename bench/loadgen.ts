#!/usr/bin/env node
// The load generator, run in its own process so its CPU is never the system's:
//   node dist/bench/loadgen.js '<LoadSpec as JSON>'   → one JSON LoadResult on stdout
// `connections` loops each send one request at a time over keep-alive sockets
// (closed-loop load, like wrk); HTTP bodies are taken in turn, so several
// bodies (one per model) spread the load round-robin over the models. Only
// requests that complete inside the measuring window count; the warm-up before
// it lets the JIT settle.
import http from "node:http";
import { tailReader, type Dialect, type TailReader } from "./dialects.js";
import { FloorClient, floorConnect } from "./floor.js";
import { percentile, Samples } from "./stats.js";

export interface LoadSpec {
  /**
   * `bodies`: sent in turn, request i carries bodies[i % length] (e.g. one body per model).
   * `headers`: sent with every request besides content-type and content-length (e.g. authorization).
   * `dialect`: how an answer ends and where its token count is (default chat).
   */
  target: { kind: "http"; url: string; bodies: string[]; stream: boolean; dialect?: Dialect; headers?: Record<string, string> } | { kind: "jetstream"; natsUrl: string; jobBytes: number };
  connections: number;
  warmupMs: number;
  /** The measuring window; with maxRequests, the hard limit for the whole run. */
  durationMs: number;
  /** Burst mode: send exactly this many requests, count all of them, stop when all are answered. */
  maxRequests?: number;
  timeoutMs: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface LoadResult {
  /** Requests completed inside the window, successful or not. */
  completed: number;
  ok: number;
  non2xx: number;
  status5xx: number;
  /** 200 answers that were cut short or carried an error event, socket errors and timeouts. */
  failed: number;
  statuses: Record<string, number>;
  failures: Record<string, number>;
  windowMs: number;
  rps: number;
  tokens: number;
  tokensPerS: number;
  latencyMs: Percentiles;
  ttftMs: Percentiles | null;
  /** Every request answered, warm-up and tail included: the divisor for CPU per request. */
  allCompleted: number;
  /** This process's own CPU (user + system), start-up included. */
  cpuMs: number;
}

interface Outcome {
  status: number;
  ok: boolean;
  tokens: number;
  ttftMs: number;
  failure?: string;
}

/** One HTTP request; never rejects. The body is kept only by its last two chunks (the usage is at the end). */
function httpRequest(agent: http.Agent, url: URL, headers: Record<string, string>, body: Buffer, reader: TailReader, timeoutMs: number, t0: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.request({
      agent, host: url.hostname, port: url.port, path: url.pathname, method: "POST",
      headers: { ...headers, "content-type": "application/json", "content-length": body.length },
    }, (res) => {
      const status = res.statusCode ?? 0;
      let ttftMs = -1;
      let last: Buffer | undefined;
      let prev: Buffer | undefined;
      res.on("data", (d: Buffer) => {
        if (ttftMs < 0) ttftMs = performance.now() - t0;
        prev = last;
        last = d;
      });
      res.on("end", () => {
        const tail = prev && last ? Buffer.concat([prev, last]).toString() : (last?.toString() ?? "");
        const tokens = reader.tokens(tail);
        const complete = reader.complete(tail, tokens);
        const failure = status >= 200 && status < 300 && !complete ? "incomplete body" : undefined;
        resolve({ status, ok: status >= 200 && status < 300 && complete, tokens, ttftMs, ...(failure ? { failure } : {}) });
      });
      res.on("error", (e: NodeJS.ErrnoException) => resolve({ status, ok: false, tokens: 0, ttftMs, failure: e.code ?? e.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ status: 0, ok: false, tokens: 0, ttftMs: -1, failure: e.code ?? e.message }));
    req.end(body);
  });
}

async function floorRequest(client: FloorClient): Promise<Outcome> {
  try {
    await client.submit();
    return { status: 200, ok: true, tokens: 0, ttftMs: -1 };
  } catch (e) {
    return { status: 0, ok: false, tokens: 0, ttftMs: -1, failure: (e as Error).message };
  }
}

const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;

function summarize(s: Samples): Percentiles {
  const sorted = s.sorted();
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: percentile(sorted, 100) };
}

async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  let send: (t0: number, n: number) => Promise<Outcome>;
  let close: () => Promise<void>;
  const target = spec.target;
  if (target.kind === "http") {
    const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections, maxFreeSockets: spec.connections });
    const url = new URL(target.url);
    // Encoded once: the loop only indexes, so spreading over models costs the load generator nothing.
    const bodies = target.bodies.map((b) => Buffer.from(b));
    if (bodies.length === 0) throw new Error("an http target needs at least one body");
    const headers = target.headers ?? {};
    const reader = tailReader(target.dialect ?? "chat", target.stream);
    send = (t0, n) => httpRequest(agent, url, headers, bodies[n % bodies.length] as Buffer, reader, spec.timeoutMs, t0);
    close = async () => agent.destroy();
  } else {
    const client = new FloorClient(await floorConnect(target.natsUrl, "bench-floor-client"), target.jobBytes, spec.timeoutMs);
    send = () => floorRequest(client);
    close = () => client.close();
  }

  const latency = new Samples();
  const ttft = new Samples();
  const statuses: Record<string, number> = {};
  const failures: Record<string, number> = {};
  let allCompleted = 0, completed = 0, ok = 0, non2xx = 0, status5xx = 0, failed = 0, tokens = 0, issued = 0;
  const burst = spec.maxRequests !== undefined;
  const start = performance.now();
  const from = start + spec.warmupMs;
  const until = from + spec.durationMs;
  let lastDone = from;

  const loop = async (): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      if (burst ? issued >= (spec.maxRequests as number) || t0 >= until : t0 >= until) return;
      const o = await send(t0, issued++);
      const t1 = performance.now();
      allCompleted++;
      if (t1 < from || t1 > until) continue;
      lastDone = t1;
      completed++;
      statuses[o.status] = (statuses[o.status] ?? 0) + 1;
      if (o.status !== 0 && (o.status < 200 || o.status >= 300)) non2xx++;
      if (o.status >= 500) status5xx++;
      if (o.failure) {
        failed++;
        failures[o.failure] = (failures[o.failure] ?? 0) + 1;
      }
      if (!o.ok) continue;
      ok++;
      tokens += o.tokens;
      latency.push(t1 - t0);
      if (o.ttftMs >= 0 && target.kind === "http" && target.stream) ttft.push(o.ttftMs);
    }
  };
  // A burst ends at its limit even if answers are still owed: unanswered requests are aborted, not awaited.
  const limit = burst ? setTimeout(() => void close(), until - performance.now()) : undefined;
  await Promise.all(Array.from({ length: spec.connections }, loop));
  clearTimeout(limit);
  await close();
  // A burst's window ends with its last answer; a timed run's with the clock.
  const windowMs = burst ? lastDone - from : spec.durationMs;
  return {
    completed, ok, non2xx, status5xx, failed, statuses, failures, windowMs,
    rps: (ok / windowMs) * 1000,
    tokens,
    tokensPerS: (tokens / windowMs) * 1000,
    latencyMs: summarize(latency),
    ttftMs: ttft.length ? summarize(ttft) : null,
    allCompleted,
    cpuMs: cpuMs(process.cpuUsage()),
  };
}

// Imported only for its types elsewhere: running the file is running the load.
const spec = JSON.parse(process.argv[2] ?? "{}") as LoadSpec;
runLoad(spec).then((r) => {
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}, (e: unknown) => {
  console.error(e);
  process.exit(1);
});
