#!/usr/bin/env node
// `npm run bench`: starts its own nats-server, broker (gateway + sim workers),
// direct server and JetStream-floor worker, drives each with a load generator
// in its own process, and writes bench/results/<date>.json and latest.json.
// Every process it starts is stopped by pid, on success, error or Ctrl-C.
import { spawnSync } from "node:child_process";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { nuid } from "@nats-io/transport-node";
import { parseConfig } from "../config/config.js";
import { encodeJob } from "../contract/proto.js";
import { subjects } from "../contract/subjects.js";
import { parseChatRequest } from "../http/openai/chat-request.js";
import { AUTH, runAuth } from "./auth.js";
import { runBurst } from "./burst.js";
import { MULTIMODEL, runMultiModel } from "./multimodel.js";
import { runProfile, type ProfileResult } from "./profile.js";
import { installCleanup, startNats, stopAll, stopProc, type BenchNats } from "./procs.js";
import { machine, markdown, targets, writeReport, type Report } from "./report.js";
import { chatBody, PACED_MODEL, runScenarios, SCENARIO_NAMES, type ScenarioResult, type Timing } from "./scenarios.js";
import { startBroker, startDirect, startFloorWorker } from "./systems.js";

const USAGE = `usage: npm run bench -- [--quick] [--rounds N] [--duration S] [--warmup S] [--only LIST] [--profile]
                       [--burst-requests N] [--burst-connections N] [--slots N] [--workers N] [--models N] [--out DIR]
  --only      comma-separated from: ${[...SCENARIO_NAMES, MULTIMODEL, AUTH, "burst", "llama", "profile"].join(", ")}
  --models    how many sim models the ${MULTIMODEL} worker serves (default 8; compared with 1 model)
  --profile   also take a CPU profile of a gateway under the nonstream-c32 load
  --quick     1 round of 1 s, a 1,000-request burst: a smoke run (figures are not for comparing)
Environment: BENCH_ROUNDS, BENCH_DURATION_S, BENCH_WARMUP_S, BENCH_BURST_REQUESTS, BENCH_MODELS`;

// 256 tokens at most; each request's max_tokens picks its length. Zero delay: the engine costs nothing.
const SIM = { ttftMs: 0, itlMs: 0, outputTokens: 256 };
// The same, paced: a 1 ms timer between tokens, so each token leaves the worker as its own chunk and
// reaches the client as its own delta event (unpaced, the sim's 256 tokens are ~4 events).
const SIM_PACED = { ...SIM, itlMs: 1 };

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));

function options() {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean" }, rounds: { type: "string" }, duration: { type: "string" }, warmup: { type: "string" },
      only: { type: "string" }, profile: { type: "boolean" }, "burst-requests": { type: "string" },
      "burst-connections": { type: "string" }, slots: { type: "string" }, workers: { type: "string" }, models: { type: "string" },
      out: { type: "string" }, help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const env = process.env;
  const num = (flag: string | undefined, envValue: string | undefined, dflt: number): number => {
    const v = Number(flag ?? envValue ?? dflt);
    if (!Number.isFinite(v) || v < 0) throw new Error(`not a number: ${flag ?? envValue}\n${USAGE}`);
    return v;
  };
  const quick = values.quick === true;
  const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const known = [...SCENARIO_NAMES, MULTIMODEL, AUTH, "burst", "llama", "profile"];
  for (const o of only ?? []) if (!known.includes(o)) throw new Error(`unknown scenario '${o}'\n${USAGE}`);
  const selected = only ?? [...SCENARIO_NAMES, MULTIMODEL, AUTH, "burst", "llama", ...(values.profile ? ["profile"] : [])];
  if (only && values.profile && !selected.includes("profile")) selected.push("profile");
  const models = num(values.models, env.BENCH_MODELS, 8);
  if (selected.includes(MULTIMODEL) && (!Number.isInteger(models) || models < 2)) throw new Error(`--models must be an integer ≥ 2 (it is compared with 1 model)\n${USAGE}`);
  const burstRequests = num(values["burst-requests"], env.BENCH_BURST_REQUESTS, quick ? 1000 : 10_000);
  return {
    selected,
    timing: {
      rounds: Math.max(1, Math.round(num(values.rounds, env.BENCH_ROUNDS, quick ? 1 : 3))),
      durationMs: num(values.duration, env.BENCH_DURATION_S, quick ? 1 : 5) * 1000,
      warmupMs: num(values.warmup, env.BENCH_WARMUP_S, quick ? 0.3 : 1) * 1000,
    } satisfies Timing,
    burstRequests,
    burstConnections: Math.min(burstRequests, num(values["burst-connections"], undefined, quick ? 100 : 1000)),
    slots: num(values.slots, undefined, 64),
    workers: Math.max(1, num(values.workers, undefined, 1)),
    models,
    // Long enough to span a few of the worker's idle sweeps (pullIntervalMs, 1 s by default).
    idleMs: quick ? 1000 : 3000,
    out: values.out ?? RESULTS,
    quick,
    argv: process.argv.slice(2),
  };
}

/** The size of the job the gateway would publish for the non-stream body: the floor's jobs are as big. */
function jobBytes(): number {
  const { model, chat } = parseChatRequest(JSON.parse(chatBody(false, 16)) as unknown, parseConfig({}).gateway.inputLimits);
  const gateway = nuid.next();
  const id = nuid.next();
  return encodeJob({
    id, model, chat, deadlineUnixMs: Date.now() + 600_000, replySubject: subjects("bench").reply(gateway, id),
    priority: 0, tenant: "", attempt: 1, createdUnixMs: Date.now(), requestId: `req_${"0".repeat(24)}`,
  }).length;
}

/** The commit measured, with "+dirty" when the working tree differs from it. */
function gitCommit(): string {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const rev = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).stdout.trim();
  if (!rev) return "unknown";
  const dirty = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: root, encoding: "utf8" }).stdout.trim();
  return dirty ? `${rev}+dirty` : rev;
}

/** Both systems must give the same answer to the same request, or the comparison means nothing. */
async function sameAnswer(direct: string, broker: string): Promise<void> {
  const ask = async (base: string): Promise<string> => {
    const res = await fetch(`${base}/v1/chat/completions`, { method: "POST", body: chatBody(false, 16), headers: { "content-type": "application/json" } });
    const body = (await res.json()) as { choices?: { message?: { content?: string } }[] };
    if (!res.ok) throw new Error(`${base} answered ${res.status}: ${JSON.stringify(body)}`);
    return body.choices?.[0]?.message?.content ?? "";
  };
  const [a, b] = [await ask(direct), await ask(broker)];
  if (a !== b || !a) throw new Error(`direct and broker disagree:\n  direct: ${a}\n  broker: ${b}`);
}

/** The llama-cpp engine through the broker against node-llama-cpp direct (bench/llama.ts, its own processes). */
function runLlama(quick: boolean, log: (line: string) => void): ScenarioResult {
  log("llama: broker vs node-llama-cpp direct on the demo model…");
  const script = fileURLToPath(new URL("./llama.js", import.meta.url));
  const r = spawnSync(process.execPath, [script, quick ? "5" : "20", quick ? "1" : "3"], { encoding: "utf8", timeout: 300_000 });
  const json = /\{[\s\S]*\}\s*$/.exec(r.stdout ?? "")?.[0];
  if (r.status !== 0 || !json) throw new Error(`bench/llama.js failed: ${(r.stderr ?? "").slice(-500)}`);
  const out = JSON.parse(json) as { tokens_per_s: { direct: number; broker: number }; ratio: number; settings: Record<string, unknown> };
  return {
    name: "llama",
    description: `llama-cpp engine, demo model, ${JSON.stringify(out.settings)}`,
    results: { direct: { tokens_per_s: out.tokens_per_s.direct }, broker: { tokens_per_s: out.tokens_per_s.broker } },
    ratios: { "broker/direct": out.ratio },
  };
}

async function main(): Promise<void> {
  const o = options();
  const log = (s: string): void => console.error(s);
  installCleanup(stopAll);
  const started = new Date();
  const stamp = started.toISOString().slice(0, 16).replace(/[:T]/g, "-");
  const scenarios: ScenarioResult[] = [];
  let profile: ProfileResult | undefined;
  const errors: string[] = [];
  let nats: BenchNats | undefined;
  try {
    nats = await startNats();
    log(`bench: ${nats.version} at ${nats.url}; ${o.timing.rounds} rounds × ${o.timing.durationMs / 1000} s; running ${o.selected.join(", ")}`);
    const names = SCENARIO_NAMES.filter((n) => o.selected.includes(n));
    if (names.length || o.selected.includes("profile")) {
      const broker = await startBroker({
        natsUrl: nats.url, prefix: "bench", slots: o.slots, workers: o.workers, sim: SIM, extraModels: [{ id: PACED_MODEL, sim: SIM_PACED }],
      });
      const direct = await startDirect(SIM);
      const floor = await startFloorWorker(nats.url, o.slots);
      await sameAnswer(direct.url, broker.url);
      log(`bench: broker ${broker.url} (${o.workers} worker × ${o.slots} slots), direct ${direct.url}, floor worker pid ${floor.pid}`);
      const pids = {
        direct: { direct: direct.proc.pid },
        "jetstream-floor": { "floor-worker": floor.pid, "nats-server": nats.proc.pid },
        broker: { gateway: broker.gateway.pid, ...Object.fromEntries(broker.workers.map((w, i) => [`worker${i}`, w.pid])), "nats-server": nats.proc.pid },
      };
      const systems = { direct: direct.url, broker: broker.url, natsUrl: nats.url, eventsStream: subjects("bench").eventsStream, jobBytes: jobBytes(), pids };
      scenarios.push(...await runScenarios(names, systems, o.timing, log));
      if (o.selected.includes("profile")) {
        profile = await runProfile(broker, o.timing, join(o.out, "profiles"), stamp, log).catch((e: unknown) => {
          errors.push(`profile: ${String(e)}`);
          return undefined;
        });
      }
      // Stopped before the burst, which gets fresh processes (their peak RSS is the burst's own).
      await Promise.all([broker.stop(), stopProc(direct.proc), stopProc(floor)]);
    }
    if (o.selected.includes(MULTIMODEL)) {
      // Its own two brokers, once the main ones have stopped, so no idle process of theirs is in its figures.
      // Like the burst, a failure is reported as an error and keeps the figures already measured.
      await runMultiModel({ nats, models: o.models, slots: o.slots, sim: SIM, timing: o.timing, idleMs: o.idleMs }, log)
        .then((r) => void scenarios.push(r), (e: unknown) => void errors.push(`${MULTIMODEL}: ${e instanceof Error ? e.message : String(e)}`));
    }
    if (o.selected.includes(AUTH)) {
      // Like multimodel: its own broker once the others have stopped; a refused request is an error, not a figure.
      await runAuth({ nats, slots: o.slots, sim: SIM, timing: o.timing }, log)
        .then((r) => void scenarios.push(r), (e: unknown) => void errors.push(`${AUTH}: ${e instanceof Error ? e.message : String(e)}`));
    }
    if (o.selected.includes("burst")) {
      // A broken burst must not cost the figures already measured: it is reported as an error instead.
      await runBurst({ natsUrl: nats.url, requests: o.burstRequests, connections: o.burstConnections, slots: 8, limitMs: 120_000 }, log)
        .then((r) => void scenarios.push(r), (e: unknown) => void errors.push(`burst: ${e instanceof Error ? e.message : String(e)}`));
    }
    if (o.selected.includes("llama")) {
      try {
        scenarios.push(runLlama(o.quick, log));
      } catch (e) {
        errors.push(`llama: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const report: Report = {
      machine: machine(nats.version),
      commit: gitCommit(),
      date: started.toISOString(),
      command: ["npm run bench", ...(o.argv.length ? ["--", ...o.argv] : [])].join(" "),
      settings: {
        rounds: o.timing.rounds, duration_s: o.timing.durationMs / 1000, warmup_s: o.timing.warmupMs / 1000, quick: o.quick,
        worker_slots: o.slots, workers: o.workers, multimodel_models: o.models, load_generator: "bench/loadgen.ts (node:http keep-alive, closed loop, own process)",
      },
      scenarios,
      targets: targets(scenarios),
      ...(errors.length ? { errors } : {}),
      ...(profile ? { profile: { file: relative(fileURLToPath(new URL("../../", import.meta.url)), profile.file), rps: profile.rps, groups: profile.summary.groups, modules: profile.summary.modules, functions: profile.summary.functions } } : {}),
    };
    const files = writeReport(o.out, stamp, report);
    console.log(`\n${markdown(report)}\n`);
    if (profile) console.log(`${profile.text}\n\n(profile file: ${profile.file})\n`);
    for (const e of errors) log(`bench: ERROR ${e}`);
    log(`bench: wrote ${files.join(", ")}`);
    if (errors.length) process.exitCode = 1;
  } finally {
    await stopAll();
    await nats?.close();
  }
}

main().catch(async (e: unknown) => {
  console.error(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  await stopAll();
  process.exit(1);
});
