import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { parseConfig } from "../../config/config.js";
import { ensureJobConsumer, ensureJobStream } from "../../nats/jetstream.js";
import { bucketName, openBucket } from "../../nats/kv.js";
import { createLogger } from "../../ops/log.js";
import { subjects } from "../../contract/subjects.js";
import { freshPrefix } from "../helpers/broker.js";
import { startNats, type TestNats } from "../helpers/nats.js";

const CLI = fileURLToPath(new URL("../../scripts/broker.js", import.meta.url));

function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => resolve({ code, out }));
  });
}

/** A logger whose warnings the test can read. */
function captureLog(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger("test", "silent");
  const orig = log.warn.bind(log);
  log.warn = ((obj: unknown, msg?: string) => {
    lines.push(`${msg ?? ""} ${JSON.stringify(obj)}`);
    return orig(obj as object, msg);
  }) as typeof log.warn;
  return { log, lines };
}

describe("set-up: config errors and JetStream provisioning", () => {
  let nats: TestNats;
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    await nats?.close();
  });

  test("an invalid config stops the process before it listens, naming the field", async () => {
    const dir = mkdtempSync(join(tmpdir(), "badcfg-"));
    writeFileSync(join(dir, "bad.yaml"), "gateway:\n  port: 80800\n  colour: blue\n");
    const r = await runCli(["gateway", "--config", join(dir, "bad.yaml")], { NATS_URL: nats.url });
    assert.equal(r.code, 1);
    assert.match(r.out, /gateway\.port/);
    assert.match(r.out, /colour/);
    assert.doesNotMatch(r.out, /\n\s+at /, "a message, not a stack trace");
  });

  test("a bad engine option stops the worker before it connects, naming the option", async () => {
    const dir = mkdtempSync(join(tmpdir(), "badcfg-"));
    writeFileSync(join(dir, "w.json"), JSON.stringify({ workers: [{ name: "w", models: [{ id: "m", engine: "sim", options: { itlMs: "fast" } }] }] }));
    const r = await runCli(["worker", "--config", join(dir, "w.json")], { NATS_URL: nats.url });
    assert.equal(r.code, 1);
    assert.match(r.out, /itlMs/);
    writeFileSync(join(dir, "e.json"), JSON.stringify({ workers: [{ name: "w", models: [{ id: "m", engine: "gpt-magic" }] }] }));
    const r2 = await runCli(["worker", "--config", join(dir, "e.json")], { NATS_URL: nats.url });
    assert.equal(r2.code, 1);
    assert.match(r2.out, /unknown engine 'gpt-magic'/);
  });

  test("stream and consumer are created once, idempotently, and drift is reported", async () => {
    const prefix = freshPrefix();
    const cfg = parseConfig({ nats: { url: nats.url, prefix }, queue: { maxPerModel: 50, ackWaitMs: 10_000 } });
    const nc = await connect({ servers: nats.url });
    try {
      const { log, lines } = captureLog();
      // Two processes starting at once must both succeed.
      const [jsm] = await Promise.all([ensureJobStream(nc, cfg, log), ensureJobStream(nc, cfg, log)]);
      await Promise.all([ensureJobConsumer(jsm, cfg, "org/m", log), ensureJobConsumer(jsm, cfg, "org/m", log)]);
      assert.deepEqual(lines, [], "no drift between identical configs");
      const info = await (await jetstreamManager(nc)).streams.info(subjects(prefix).stream);
      assert.equal(info.config.retention, "workqueue");
      assert.equal(info.config.storage, "file");
      assert.equal(info.config.max_msgs_per_subject, 50);

      // Another process with other settings: the consumer is kept and the difference logged.
      const other = parseConfig({ nats: { url: nats.url, prefix }, queue: { maxPerModel: 50, ackWaitMs: 20_000 } });
      await ensureJobConsumer(jsm, other, "org/m", log);
      assert.ok(lines.some((l) => /ack_wait/.test(l)), `drift reported: ${lines.join("\n")}`);
      const ci = await jsm.consumers.info(subjects(prefix).stream, subjects(prefix).consumer("org/m"));
      assert.equal(ci.config.ack_wait, 10_000 * 1_000_000, "existing consumer left as it was");

      // The stream too: a process with another bound reports it and leaves the live stream alone.
      const bigger = parseConfig({ nats: { url: nats.url, prefix }, queue: { maxPerModel: 80 } });
      await ensureJobStream(nc, bigger, log);
      assert.ok(lines.some((l) => /max_msgs_per_subject/.test(l) && /keeping the existing/.test(l)), `stream drift reported: ${lines.join("\n")}`);
      assert.equal((await jsm.streams.info(subjects(prefix).stream)).config.max_msgs_per_subject, 50, "existing stream left as it was");

      // And a bucket: created with the config's replicas and TTL, its drift reported, not applied.
      const first = await openBucket(nc, bucketName(prefix, "usage"), { replicas: 1, ttlMs: 60_000, log });
      assert.equal((await first.status()).ttl, 60_000);
      await openBucket(nc, bucketName(prefix, "usage"), { replicas: 1, ttlMs: 120_000, log });
      assert.ok(lines.some((l) => /ttl_ms: 60000 → 120000/.test(l)), `bucket drift reported: ${lines.join("\n")}`);
      assert.equal((await first.status()).ttl, 60_000, "existing bucket left as it was");
    } finally {
      await nc.close();
    }
  });
});
