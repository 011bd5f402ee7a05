import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError, loadConfig, parseConfig } from "../../config/config.js";

test("an empty config gets working defaults", () => {
  const c = parseConfig({});
  assert.equal(c.gateway.port, 8080);
  assert.equal(c.gateway.host, "127.0.0.1");
  assert.equal(c.nats.prefix, "infer");
  assert.ok(c.queue.maxPerModel > 0);
});

test("unknown and bad fields stop the process with their path named", () => {
  assert.throws(() => parseConfig({ gateway: { prot: 1 } }), (e: Error) => e instanceof ConfigError && /gateway/.test(e.message) && /prot/.test(e.message));
  assert.throws(() => parseConfig({ gateway: { port: "x" } }), /gateway\.port/);
  assert.throws(() => parseConfig({ workers: [{ name: "w", models: [] }] }), /workers\.0\.models/);
  assert.throws(() => parseConfig({ queue: { duplicateWindowMs: 7_200_000, maxAgeMs: 3_600_000 } }), /duplicateWindowMs/);
});

test("YAML and JSON files load, and env overrides the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "cfg-"));
  writeFileSync(join(dir, "a.yaml"), "gateway:\n  port: 9000\nnats:\n  url: nats://example:4222\n");
  writeFileSync(join(dir, "b.json"), JSON.stringify({ gateway: { port: 9001 } }));
  assert.equal(loadConfig(join(dir, "a.yaml"), {}).gateway.port, 9000);
  assert.equal(loadConfig(join(dir, "b.json"), {}).gateway.port, 9001);
  const c = loadConfig(join(dir, "a.yaml"), { PORT: "9100", NATS_URL: "nats://other:4222" });
  assert.equal(c.gateway.port, 9100);
  assert.equal(c.nats.url, "nats://other:4222");
  assert.throws(() => loadConfig(join(dir, "a.yaml"), { PORT: "eighty" }), /PORT/);
  writeFileSync(join(dir, "bad.yaml"), "gateway: [\n");
  assert.throws(() => loadConfig(join(dir, "bad.yaml"), {}), /not valid YAML/);
  assert.throws(() => loadConfig(join(dir, "missing.yaml"), {}), /cannot read/);
});

test("a chain inside a chain stops the process at start, naming where", () => {
  const models = [
    { id: "a" }, { id: "b" },
    { id: "inner", chain: ["a", "b"] },
    { id: "outer", chain: ["inner", "a"] },
  ];
  assert.throws(() => parseConfig({ gateway: { models } }), (e: Error) =>
    e instanceof ConfigError && /gateway\.models\.3\.chain\.0/.test(e.message) && /'inner' is itself a chain/.test(e.message));
  assert.equal(parseConfig({ gateway: { models: models.slice(0, 3) } }).gateway.models.length, 3, "a chain of plain targets is fine");
});

test("stored responses are kept 30 days unless responses.retentionMs says otherwise; the section is strict", () => {
  assert.equal(parseConfig({}).responses.retentionMs, 30 * 86_400_000);
  assert.equal(parseConfig({ responses: { retentionMs: 3_600_000 } }).responses.retentionMs, 3_600_000);
  assert.throws(() => parseConfig({ responses: { retentionMs: 1000 } }), (e: Error) => e instanceof ConfigError && /responses\.retentionMs/.test(e.message));
  assert.throws(() => parseConfig({ responses: { ttl: 1 } }), (e: Error) => e instanceof ConfigError && /responses/.test(e.message) && /ttl/.test(e.message));
});
