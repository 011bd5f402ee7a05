// gRPC streaming vs HTTP SSE on the same load, through the same gateway
// process (one JobClient behind both fronts, as startGateway will wire it)
// and the same sim workers. Bound for bench/: it reaches into facade/ and
// test/helpers/ to stand the system up, which broker/ code never does.
//
//   node dist/bench/grpc-vs-sse.js [streams=200] [tokens=64] [concurrency=16] [rounds=3]
//
// Processes: nats-server, one gateway (this file in `serve` mode), sim
// workers (`broker worker`), and this process as the load generator.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { parseConfig, type Config } from "../config/config.js";
import { createLogger } from "../ops/log.js";
import { startGateway } from "../gateway/main.js";
import { startNats } from "../test/helpers/nats.js";
import { createInferenceClient } from "../grpc/client.js";
import { LOADER_OPTIONS, PROTO_DIR } from "../grpc/definitions.js";

const SELF = fileURLToPath(import.meta.url);
const CLI = fileURLToPath(new URL("../scripts/broker.js", import.meta.url));

/** The real gateway with both fronts, in its own process; prints their addresses as one JSON line. */
async function serve(configFile: string): Promise<void> {
  const cfg = parseConfig(JSON.parse(readFileSync(configFile, "utf8")));
  const gw = await startGateway({ ...cfg, gateway: { ...cfg.gateway, host: "127.0.0.1", port: 0, grpcPort: 0 } }, createLogger("gateway", "warn"));
  process.stdout.write(`${JSON.stringify({ http: gw.url, grpc: gw.grpcAddress })}\n`);
  process.once("SIGTERM", () => void gw.close().then(() => process.exit(0)));
}

interface Result { name: string; seconds: number; streams: number; tokens: number; failed: number; p50: number; p95: number }

async function run(name: string, streams: number, concurrency: number, one: () => Promise<number>): Promise<Result> {
  let next = 0;
  let tokens = 0;
  let failed = 0;
  const durations: number[] = [];
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < streams) {
      next++;
      const t0 = performance.now();
      try {
        // Not `tokens += await one()`: that reads `tokens` before the await and loses the other loops' counts.
        const n = await one();
        tokens += n;
        durations.push(performance.now() - t0);
      } catch {
        failed++;
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  durations.sort((a, b) => a - b);
  const pct = (p: number): number => durations[Math.min(durations.length - 1, Math.floor(p * durations.length))] ?? 0;
  return { name, seconds, streams: durations.length, tokens, failed, p50: pct(0.5), p95: pct(0.95) };
}

async function main(): Promise<void> {
  const [streams = 200, tokens = 64, concurrency = 16, rounds = 3] = process.argv.slice(2).map(Number);
  const nats = await startNats();
  const dir = mkdtempSync(join(tmpdir(), "grpc-bench-"));
  const cfg: Config = parseConfig({
    nats: { url: nats.url, prefix: "bench" },
    gateway: { port: 0 },
    workers: [{ name: "sim", slots: concurrency, heartbeatMs: 500, models: [{ id: "sim", engine: "sim", options: { outputTokens: tokens } }] }],
  });
  const file = join(dir, "config.json");
  writeFileSync(file, JSON.stringify(cfg));
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : undefined)));
    await nats.close();
  };
  try {
    children.push(spawn(process.execPath, [CLI, "worker", "--config", file, "--name", "sim"], { stdio: "inherit", env: { ...process.env, NATS_URL: nats.url, LOG_LEVEL: "warn" } }));
    const gw = spawn(process.execPath, [SELF, "serve", file], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(gw);
    const urls = await new Promise<{ http: string; grpc: string }>((resolve, reject) => {
      gw.stdout?.once("data", (d: Buffer) => resolve(JSON.parse(d.toString()) as { http: string; grpc: string }));
      gw.once("exit", () => reject(new Error("gateway exited")));
    });
    const body = JSON.stringify({ model: "sim", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "bench" }] });
    for (;;) {
      const res = await fetch(`${urls.http}/v1/models`);
      if (((await res.json()) as { data: { id: string }[] }).data.some((m) => m.id === "sim")) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const sse = async (): Promise<number> => {
      const res = await fetch(`${urls.http}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      let buf = "";
      let usage = 0;
      const decoder = new TextDecoder();
      for await (const part of res.body) {
        buf += decoder.decode(part, { stream: true });
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const ev = buf.slice(0, end);
          buf = buf.slice(end + 2);
          if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
          const chunk = JSON.parse(ev.slice(6)) as { usage?: { completion_tokens: number } | null; error?: unknown };
          if (chunk.error) throw new Error("error event");
          if (chunk.usage) usage = chunk.usage.completion_tokens;
        }
      }
      return usage;
    };
    const typed = createInferenceClient(urls.grpc);
    const typedStream = async (): Promise<number> => {
      let usage = 0;
      for await (const c of typed.chat("sim", { messages: [{ role: "user", content: "bench" }] })) usage = c.final?.usage?.completionTokens ?? usage;
      return usage;
    };
    type Ctor = new (a: string, c: grpc.ChannelCredentials) => grpc.Client & { ChatCompletion(req: object): grpc.ClientReadableStream<{ final?: { usage?: { completionTokens: number } } }> };
    const Plain = (grpc.loadPackageDefinition(loadSync("service.proto", { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] })) as unknown as { inference: { v1: { Inference: Ctor } } }).inference.v1.Inference;
    const plain = new Plain(urls.grpc, grpc.credentials.createInsecure());
    const plainStream = async (): Promise<number> => {
      let usage = 0;
      for await (const c of plain.ChatCompletion({ model: "sim", request: { messages: [{ role: "user", content: "bench" }] } })) {
        usage = (c as { final?: { usage?: { completionTokens: number } } }).final?.usage?.completionTokens ?? usage;
      }
      return usage;
    };

    let messages = 0;
    for await (const c of typed.chat("sim", { messages: [{ role: "user", content: "bench" }] })) messages += c.final ? 0 : 1;
    const text = await (await fetch(`${urls.http}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body })).text();
    console.log(`one stream of ${tokens} tokens: gRPC ${messages} delta message(s) + 1 final; SSE ${text.split("\n\n").length - 1} events`);

    const modes: [string, () => Promise<number>][] = [["http-sse", sse], ["grpc (typed client)", typedStream], ["grpc (proto-loader client)", plainStream]];
    // Warm-up: JIT, connections, consumers.
    for (const [name, fn] of modes) await run(name, Math.min(50, streams), concurrency, fn);
    const results = new Map<string, Result[]>();
    for (let r = 0; r < rounds; r++) {
      for (const [name, fn] of modes) {
        const res = await run(name, streams, concurrency, fn);
        results.set(name, [...(results.get(name) ?? []), res]);
      }
    }
    console.log(`\n${streams} streams x ${tokens} sim tokens, concurrency ${concurrency}, median of ${rounds} rounds (alternating):`);
    console.log("front                        streams/s   tokens/s   p50 ms   p95 ms   failed");
    for (const [name, rs] of results) {
      const byRate = [...rs].sort((a, b) => a.streams / a.seconds - b.streams / b.seconds);
      const m = byRate[Math.floor(byRate.length / 2)] as Result;
      console.log(`${name.padEnd(28)} ${(m.streams / m.seconds).toFixed(1).padStart(9)} ${(m.tokens / m.seconds).toFixed(0).padStart(10)} ${m.p50.toFixed(1).padStart(8)} ${m.p95.toFixed(1).padStart(8)} ${String(rs.reduce((s, x) => s + x.failed, 0)).padStart(8)}`);
    }
    typed.close();
    plain.close();
  } finally {
    await stop();
  }
}

if (process.argv[2] === "serve") await serve(process.argv[3] ?? "");
else await main();
