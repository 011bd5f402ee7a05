// Queue burst: many more requests than slots. Every request must be answered
// (none refused, none lost) while the queue holds the backlog in JetStream,
// not in the gateway's or worker's memory.
import { runLoadgen } from "./measure.js";
import { memoryMb, sampleRss } from "./procs.js";
import { type ScenarioResult, chatBody } from "./scenarios.js";
import { round } from "./stats.js";
import { startBroker } from "./systems.js";

export interface BurstOptions {
  natsUrl: string;
  requests: number;
  connections: number;
  slots: number;
  /** Whole-burst limit: the run is bounded even if the broker stalls. */
  limitMs: number;
}

// 1 ms before the first token and between tokens, 4 tokens: ~5 ms of service per job.
const SIM = { ttftMs: 1, itlMs: 1, outputTokens: 4 };

export async function runBurst(o: BurstOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const broker = await startBroker({ natsUrl: o.natsUrl, prefix: "benchburst", slots: o.slots, workers: 1, sim: SIM });
  try {
    const url = `${broker.url}/v1/chat/completions`;
    const target = { kind: "http" as const, url, bodies: [chatBody(false, SIM.outputTokens)], stream: false };
    // Service time: the latency of a lone request (no queue), through the same gateway and worker.
    const alone = await runLoadgen({ target, connections: 1, warmupMs: 500, durationMs: 2000, timeoutMs: 10_000 });
    if (alone.ok === 0) throw new Error(`the burst broker answered none of ${alone.completed} lone requests: ${JSON.stringify(alone.statuses)} ${JSON.stringify(alone.failures)}`);
    const serviceMs = alone.latencyMs.p50;
    const gatewayPid = broker.gateway.pid;
    const workerPid = (broker.workers[0] as { pid: number }).pid;
    const idle = { gateway: memoryMb(gatewayPid), worker: memoryMb(workerPid) };
    log(`  burst: service time ${round(serviceMs)} ms alone; ${o.requests} requests over ${o.connections} connections onto ${o.slots} slots…`);
    const rss = sampleRss({ gateway: gatewayPid, worker: workerPid });
    const r = await runLoadgen({ target, connections: o.connections, warmupMs: 0, durationMs: o.limitMs, maxRequests: o.requests, timeoutMs: 60_000 });
    const peak = rss.stop();
    const hwm = { gateway: memoryMb(gatewayPid, "VmHWM"), worker: memoryMb(workerPid, "VmHWM") };
    log(`  burst: ${r.ok}/${o.requests} ok in ${round(r.windowMs / 1000)} s, ${r.status5xx} 5xx, gateway peak ${round(peak.gateway ?? Number.NaN)} MB`);
    const wait = (p: number): number => round(Math.max(0, p - serviceMs));
    return {
      name: "burst",
      description: `queue burst: ${o.requests} non-stream requests, ${o.connections} connections, ${o.slots} slots, sim ${SIM.ttftMs} ms TTFT + ${SIM.itlMs} ms/token × ${SIM.outputTokens}`,
      results: {
        broker: {
          requests: o.requests,
          completed: r.ok,
          non2xx: r.non2xx,
          status5xx: r.status5xx,
          failed: r.failed,
          statuses: r.statuses,
          failures: r.failures,
          wall_s: round(r.windowMs / 1000),
          rps: round(r.rps),
          p50_ms: round(r.latencyMs.p50),
          p99_ms: round(r.latencyMs.p99),
          service_ms: round(serviceMs),
          queue_wait_p50_ms: wait(r.latencyMs.p50),
          queue_wait_p99_ms: wait(r.latencyMs.p99),
          gateway_idle_rss_mb: round(idle.gateway ?? Number.NaN),
          gateway_peak_rss_mb: round(peak.gateway ?? Number.NaN),
          worker_peak_rss_mb: round(peak.worker ?? Number.NaN),
          gateway_hwm_mb: round(hwm.gateway ?? Number.NaN),
          worker_hwm_mb: round(hwm.worker ?? Number.NaN),
        },
      },
      ratios: { "completed/requests": round(r.ok / o.requests) },
      notes: [
        "queue wait ≈ latency percentile − service time, where service time is the p50 latency of requests sent one at a time to the same gateway and worker just before the burst",
        "peak RSS: VmRSS sampled every 100 ms during the burst; hwm: the process's VmHWM at the end (fresh processes, so the burst's peak)",
      ],
    };
  } finally {
    await broker.stop();
  }
}
