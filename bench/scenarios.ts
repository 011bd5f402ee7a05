// The side-by-side scenarios of issue 3: every system gets the same load,
// systems alternate within each round, and the figures are medians over rounds.
import { DIALECTS, streamEvents, tailReader } from "./dialects.js";
import { eventStorage } from "./event-storage.js";
import type { LoadSpec } from "./loadgen.js";
import { runAlternating, type SystemResult } from "./measure.js";
import { round } from "./stats.js";

export interface Targets {
  direct: string;
  broker: string;
  natsUrl: string;
  /** The broker's events stream, where background responses' events are stored. */
  eventsStream: string;
  /** Size of an encoded job for the non-stream body: the floor publishes jobs this big. */
  jobBytes: number;
  /** Each system's processes (role → pid), metered for CPU during its runs. */
  pids: Record<"direct" | "jetstream-floor" | "broker", Record<string, number>>;
}

export interface Timing {
  rounds: number;
  warmupMs: number;
  durationMs: number;
}

export interface ScenarioResult {
  name: string;
  description: string;
  results: Record<string, SystemResult | Record<string, unknown>>;
  ratios: Record<string, number>;
  notes?: string[];
}

/** The bench broker's sim model paced at one token per timer tick (SIM_PACED in run.ts). */
export const PACED_MODEL = "sim-paced";

const QUESTION = "Write a short answer for the benchmark.";
const PROMPT = [{ role: "user", content: QUESTION }];

export function chatBody(stream: boolean, maxTokens: number, model = "sim"): string {
  return JSON.stringify({
    model,
    messages: PROMPT,
    max_tokens: maxTokens,
    // Usage on the last event is how the load generator counts tokens without parsing every event.
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
}

/** The same question in the Responses dialect: the same prompt, the same answer length. */
export function responsesBody(stream: boolean, maxTokens: number, model = "sim"): string {
  // Stored, as OpenAI's default is: the KV write per response is part of what the dialect costs.
  return JSON.stringify({ model, input: QUESTION, max_output_tokens: maxTokens, ...(stream ? { stream: true } : {}) });
}

/** A streamed background response: the same request as responsesBody's, run as a detached job. */
export function backgroundBody(maxTokens: number, model = "sim"): string {
  return JSON.stringify({ model, input: QUESTION, max_output_tokens: maxTokens, background: true, stream: true });
}

/**
 * Who answers: "broker" speaks chat, as everywhere in the bench; "broker-responses" is
 * the same broker on /v1/responses, and "broker-background" the same with background set.
 */
type System = "direct" | "jetstream-floor" | "broker" | "broker-responses" | "broker-background";

interface Def {
  name: string;
  description: string;
  connections: number;
  stream: boolean;
  maxTokens: number;
  systems: System[];
  /** The sim model asked (default "sim"). */
  model?: string;
  /** Report the gateway's CPU per SSE event, each dialect's events per stream counted on a probe stream. */
  perEvent?: boolean;
}

const DEFS: Def[] = [
  { name: "nonstream-c32", description: "non-stream chat, 16 tokens, 32 connections", connections: 32, stream: false, maxTokens: 16, systems: ["direct", "jetstream-floor", "broker"] },
  { name: "nonstream-c128", description: "non-stream chat, 16 tokens, 128 connections", connections: 128, stream: false, maxTokens: 16, systems: ["direct", "jetstream-floor", "broker"] },
  { name: "stream16-c32", description: "stream chat, 16 chunks, 32 connections", connections: 32, stream: true, maxTokens: 16, systems: ["direct", "broker"] },
  { name: "stream256-c32", description: "stream chat, 256 chunks, 32 connections", connections: 32, stream: true, maxTokens: 256, systems: ["direct", "broker"] },
  { name: "responses-stream256-c32", description: "stream, 256 tokens, 32 connections, through the broker: chat (broker, include_usage) vs Responses (broker-responses)", connections: 32, stream: true, maxTokens: 256, systems: ["broker", "broker-responses"] },
  { name: "responses-events-c32", description: `stream, 256 tokens each its own delta event (${PACED_MODEL}), 32 connections, through the broker: chat (broker, include_usage) vs Responses (broker-responses): gateway CPU per event`, connections: 32, stream: true, maxTokens: 256, systems: ["broker", "broker-responses"], model: PACED_MODEL, perEvent: true },
  { name: "responses-background-stream256-c32", description: "Responses stream, 256 tokens, 32 connections, through the broker: foreground (broker-responses) vs background (broker-background: background and stream set)", connections: 32, stream: true, maxTokens: 256, systems: ["broker-responses", "broker-background"] },
  { name: "responses-nonstream-c32", description: "non-stream, 16 tokens, 32 connections, through the broker: chat (broker) vs Responses (broker-responses, stored)", connections: 32, stream: false, maxTokens: 16, systems: ["broker", "broker-responses"] },
  // The floor's round trip at 1 connection is the least a durable queue hop can add to TTFT.
  { name: "ttft-c1", description: "stream chat, 16 chunks, 1 connection: time to first token (floor: its round trip)", connections: 1, stream: true, maxTokens: 16, systems: ["direct", "jetstream-floor", "broker"] },
];

export const SCENARIO_NAMES = DEFS.map((d) => d.name);

function specFor(d: Def, system: System, t: Targets, timing: Timing): LoadSpec {
  const base = { connections: d.connections, warmupMs: timing.warmupMs, durationMs: timing.durationMs, timeoutMs: 30_000 };
  if (system === "jetstream-floor") return { ...base, target: { kind: "jetstream", natsUrl: t.natsUrl, jobBytes: t.jobBytes } };
  if (system === "broker-responses" || system === "broker-background") {
    const body = system === "broker-background" ? backgroundBody(d.maxTokens, d.model) : responsesBody(d.stream, d.maxTokens, d.model);
    const target = { kind: "http" as const, url: `${t.broker}${DIALECTS.responses}`, bodies: [body], stream: d.stream, dialect: "responses" as const };
    return { ...base, target };
  }
  const url = `${system === "direct" ? t.direct : t.broker}${DIALECTS.chat}`;
  return { ...base, target: { kind: "http", url, bodies: [chatBody(d.stream, d.maxTokens, d.model)], stream: d.stream } };
}

/** Every broker system is the one broker, reached on another path or with another body. */
const pidsOf = (s: System): keyof Targets["pids"] => (s === "direct" || s === "jetstream-floor" ? s : "broker");

const ratio = (a: number | undefined, b: number | undefined): number =>
  a !== undefined && b !== undefined && b > 0 ? round(a / b) : Number.NaN;

/**
 * Responses against chat on the same broker, per stream. Both streams carry
 * the same answer in the same delta events, but with the zero-work sim 256
 * tokens are ~4 of them (it yields every 64 tokens and the worker merges what
 * a tick emits), so wall time and CPU here are per-stream costs, Responses'
 * 8 lifecycle and item events and bigger framing included; eventRatios is
 * the per-event comparison.
 */
function dialectRatios(d: Def, r: Record<string, SystemResult>): { ratios: Record<string, number>; notes: string[] } {
  const chat = r.broker;
  const responses = r["broker-responses"];
  const out: Record<string, number> = { "responses/chat": ratio(responses?.rps, chat?.rps) };
  const gatewayCpu = ratio(responses?.cpu_us_per_req.gateway, chat?.cpu_us_per_req.gateway);
  if (!d.stream) {
    out["responses/chat gateway cpu_us_per_req"] = gatewayCpu;
    return { ratios: out, notes: ["responses/chat: req/s; Responses stores each answer in the responses KV bucket, as OpenAI's store default asks"] };
  }
  out["responses/chat tokens_per_s"] = ratio(responses?.tokens_per_s, chat?.tokens_per_s);
  out["responses/chat per-stream cost"] = ratio(chat?.tokens_per_s, responses?.tokens_per_s);
  out["responses/chat gateway cpu per stream"] = gatewayCpu;
  return {
    ratios: out,
    notes: [
      "responses/chat: streams/s; tokens_per_s differs from it only if a dialect's token count is off",
      "per-stream cost: wall time per stream at 32 connections, Responses over chat, i.e. chat tokens/s ÷ Responses tokens/s (both send the same 256 tokens, which the zero-work sim sends as ~4 delta events, so this is per stream, not per event: see responses-events-c32; lower is cheaper; the target, Responses ≥ 0.8 × chat's tokens/s, is this ≤ 1.25)",
      "gateway cpu per stream: the gateway's CPU µs per stream, Responses over chat",
      "Responses streams are stored (store defaults to true): one KV write per stream is in its figures",
    ],
  };
}

/**
 * Responses against chat per SSE event, on the paced sim model where every
 * token is its own delta event in both: the gateway's CPU per stream divided
 * by the events one stream of that dialect carries (`events`, by system).
 * Streams/s is set by the sim's pacing, not by cost, so only CPU compares.
 */
function eventRatios(r: Record<string, SystemResult>, events: Record<string, number>): { ratios: Record<string, number>; notes: string[] } {
  const perEvent = (s: System): number => {
    const us = r[s]?.cpu_us_per_req.gateway;
    const n = events[s];
    return us !== undefined && n ? us / n : Number.NaN;
  };
  const chat = perEvent("broker");
  const responses = perEvent("broker-responses");
  return {
    ratios: {
      "responses/chat": ratio(r["broker-responses"]?.rps, r.broker?.rps),
      "chat events per stream": events.broker ?? Number.NaN,
      "responses events per stream": events["broker-responses"] ?? Number.NaN,
      "chat gateway cpu_us per event": round(chat),
      "responses gateway cpu_us per event": round(responses),
      "responses/chat gateway cpu per event": ratio(responses, chat),
    },
    notes: [
      `events per stream: the SSE events the client gets in one whole stream, counted on one probe stream of each dialect before the rounds: chat's data: chunks (256 deltas, the lone finish_reason chunk, the usage chunk, [DONE]), Responses' events (256 output_text.delta and its 8 lifecycle and item events); ${PACED_MODEL} waits 1 ms between tokens, so each token leaves the worker as its own chunk`,
      "gateway cpu_us per event: the gateway's CPU µs per stream (median over rounds) ÷ events per stream; the fixed events are charged like the deltas, so Responses' heavier ones (the response object on created, in_progress and completed; the whole text on the done events) are in its figure; target: Responses ≤ 1.2 × chat's",
      "responses/chat: streams/s, set by the sim's pacing (256 timer waits per stream) more than by cost",
      "Responses streams are stored (store defaults to true): one KV write per stream is in its figures",
    ],
  };
}

/** The SSE events in one whole stream of `spec`'s request: the divisor for the CPU per event. */
async function eventsPerStream(spec: LoadSpec): Promise<number> {
  if (spec.target.kind !== "http") throw new Error("only an HTTP stream has SSE events");
  const { url, bodies, dialect = "chat" } = spec.target;
  const res = await fetch(url, { method: "POST", body: bodies[0], headers: { "content-type": "application/json" } });
  const text = await res.text();
  const read = tailReader(dialect, true);
  if (!res.ok || !read.complete(text, read.tokens(text))) throw new Error(`the probe stream at ${url} was not whole (${res.status}): ${text.slice(-300)}`);
  return streamEvents(text);
}

/**
 * A background stream against a foreground one on the same broker: the same
 * request and the same Responses events, so the difference is what keeping
 * the events costs. CPU is compared per process because the cost moves:
 * the worker publishes into JetStream, nats-server stores on disk, the
 * gateway writes log records and reads the log back.
 */
function backgroundRatios(r: Record<string, SystemResult>, storage: Record<string, number>): { ratios: Record<string, number>; notes: string[] } {
  const fg = r["broker-responses"];
  const bg = r["broker-background"];
  const cpu = (role: string): number => ratio(bg?.cpu_us_per_req[role], fg?.cpu_us_per_req[role]);
  return {
    ratios: {
      "background/foreground": ratio(bg?.rps, fg?.rps),
      "background/foreground tokens_per_s": ratio(bg?.tokens_per_s, fg?.tokens_per_s),
      "background/foreground gateway cpu per stream": cpu("gateway"),
      "background/foreground worker0 cpu per stream": cpu("worker0"),
      "background/foreground nats-server cpu per stream": cpu("nats-server"),
      ...storage,
    },
    notes: [
      "background/foreground: streams/s of the same Responses stream, background and stream set vs neither (both stored); below 1 is what persisting the events costs in throughput",
      "a background stream does more: the gateway appends an opened record and, on the worker's claim, reads the log's last record and appends a claim record (each a JetStream publish awaiting its ack); the worker publishes every chunk into the events stream, where nats-server stores it on disk (file storage); the gateway reads the events back through one ordered consumer per stream; the response goes into the KV bucket when queued (a foreground stream writes it once too, when it ends)",
      "events …: the events stream after the scenario (kept background.eventRetentionMs, 60 s in the bench, so older rounds may have aged out): records and stored bytes per response log, and the stream's size then",
    ],
  };
}

/** The events stream's state as per-response figures (each background response has one log subject). */
async function storageFigures(t: Targets): Promise<Record<string, number>> {
  const s = await eventStorage(t.natsUrl, t.eventsStream);
  return {
    "events records per stream": ratio(s.messages, s.responses),
    "events bytes per stream": ratio(s.bytes, s.responses),
    "events stream bytes": s.bytes,
  };
}

function ratios(d: Def, r: Record<string, SystemResult>, floorC32: number | undefined): { ratios: Record<string, number>; notes: string[] } {
  if (d.systems.includes("broker-responses")) return dialectRatios(d, r);
  const { broker, direct } = r;
  const floor = r["jetstream-floor"];
  const out: Record<string, number> = {};
  const notes: string[] = [];
  if (d.connections === 1) {
    out["broker/direct ttft_p50"] = ratio(broker?.ttft_p50_ms, direct?.ttft_p50_ms);
    out["broker-direct ttft_p50_ms"] = round((broker?.ttft_p50_ms ?? Number.NaN) - (direct?.ttft_p50_ms ?? Number.NaN));
    out["broker-direct ttft_p99_ms"] = round((broker?.ttft_p99_ms ?? Number.NaN) - (direct?.ttft_p99_ms ?? Number.NaN));
    if (floor) {
      out["jetstream-floor-direct p50_ms"] = round(floor.p50_ms - (direct?.ttft_p50_ms ?? Number.NaN));
      notes.push("jetstream-floor-direct p50_ms: the floor's whole round trip (publish+ack → pull → ack → reply) at 1 connection, less direct's TTFT");
    }
    return { ratios: out, notes };
  }
  out["broker/direct"] = ratio(broker?.rps, direct?.rps);
  if (floor) {
    out["broker/jetstream-floor"] = ratio(broker?.rps, floor.rps);
    out["jetstream-floor/direct"] = ratio(floor.rps, direct?.rps);
  } else if (floorC32 !== undefined) {
    out["broker/jetstream-floor"] = ratio(broker?.rps, floorC32);
    notes.push("broker/jetstream-floor: streams/s over the floor's non-stream round trips/s at 32 connections");
  }
  if (d.stream) out["broker/direct tokens_per_s"] = ratio(broker?.tokens_per_s, direct?.tokens_per_s);
  return { ratios: out, notes };
}

/** Runs the named scenarios; `log` reports each run as it ends. */
export async function runScenarios(names: string[], t: Targets, timing: Timing, log: (s: string) => void): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = [];
  let floorC32: number | undefined;
  for (const d of DEFS.filter((x) => names.includes(x.name))) {
    const systems = d.systems.map((system) => ({
      name: system, spec: specFor(d, system, t, timing), pids: t.pids[pidsOf(system)], stream: d.stream && system !== "jetstream-floor",
    }));
    const events: Record<string, number> = {};
    if (d.perEvent) {
      for (const s of systems) events[s.name] = await eventsPerStream(s.spec);
      log(`  ${d.name}: events per stream ${JSON.stringify(events)}`);
    }
    const results = await runAlternating(d.name, systems, timing.rounds, log);
    if (d.name === "nonstream-c32") floorC32 = results["jetstream-floor"]?.rps;
    const { ratios: rs, notes } = d.perEvent
      ? eventRatios(results, events)
      : d.systems.includes("broker-background")
        ? backgroundRatios(results, await storageFigures(t))
        : ratios(d, results, floorC32);
    out.push({ name: d.name, description: d.description, results, ratios: rs, ...(notes.length ? { notes } : {}) });
  }
  return out;
}
