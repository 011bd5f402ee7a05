import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { subjects } from "../../contract/mod.js";
import { natsPermissions, natsServerConfig } from "../../nats/mod.js";
import { findNatsServer } from "../../ops/embedded-nats.js";
import { defaultConfig, parseConfig } from "../../config/mod.js";
import { runCli } from "../helpers/broker.js";

// The integration test (nats-roles) proves these lists work against a real server;
// here, that no grant wider than the role's slips in when someone edits them.
describe("natsPermissions", () => {
  const worker = natsPermissions("llm", "worker", { name: "gpu1", models: ["org/m:1"] });
  const gateway = natsPermissions("llm", "gateway");

  test("a worker gets its own inbox and its models' consumers, nothing that reads others' traffic", () => {
    assert.ok(worker.subscribe.allow.includes("_INBOX_wk.gpu1.>"));
    for (const wide of ["_INBOX.>", ">", "llm.out.>", "llm.jobs.>", "$KV.>"]) assert.ok(!worker.subscribe.allow.includes(wide), wide);
    assert.ok(!worker.subscribe.allow.some((s) => s.startsWith("_INBOX_gw") || s.startsWith("$KV") || s.startsWith("llm.out")));
    assert.ok(!worker.publish.allow.some((s) => s.startsWith("llm.jobs") || s.startsWith("$KV") || s.includes("KV_") || /STREAM\.(CREATE|UPDATE|DELETE|PURGE)|\$JS\.API\.>|STREAM\.\*/.test(s)));
    // Every consumer grant names one of this worker's consumers (w_<model token>_<lane>).
    for (const s of worker.publish.allow.filter((p) => p.includes(".CONSUMER.") || p.startsWith("$JS.ACK"))) assert.match(s, /\.w_org_2fm_3a1_(high|normal|low)(\.>)?$/, s);
  });

  test("a gateway may publish jobs and look at consumers, not pull or create them", () => {
    assert.ok(gateway.publish.allow.includes("llm.jobs.>"));
    assert.equal(gateway.allow_responses, true);
    assert.ok(!gateway.publish.allow.some((s) => /CONSUMER\.(MSG\.NEXT|CREATE|DURABLE)\.LLM_JOBS|CONSUMER\.\*\.LLM_JOBS/.test(s) || s.startsWith("$JS.ACK.LLM_JOBS")));
    assert.ok(!gateway.subscribe.allow.some((s) => s.startsWith("_INBOX_wk") || s === "_INBOX.>"));
  });

  test("a gateway uses every bucket of the broker's, stored responses included", () => {
    for (const b of ["keys", "limits", "usage", "responses"]) {
      assert.ok(gateway.publish.allow.includes(`$KV.llm-${b}.>`), b);
      assert.ok(gateway.publish.allow.includes(`$JS.API.STREAM.*.KV_llm-${b}`), b);
      assert.ok(gateway.publish.allow.includes(`$JS.API.DIRECT.GET.KV_llm-${b}.>`), b);
    }
  });

  test("under a JetStream domain every API grant is $JS.<domain>.API, and its local twin (the domain's servers map to it)", () => {
    const w = natsPermissions("llm", "worker", { jsDomain: "hub", name: "a", models: ["m"] });
    assert.ok(w.publish.allow.includes("$JS.hub.API.CONSUMER.MSG.NEXT.LLM_JOBS.w_m_normal"));
    const local = w.publish.allow.filter((s) => s.startsWith("$JS.API."));
    const domain = w.publish.allow.filter((s) => s.startsWith("$JS.hub.API."));
    assert.deepEqual(local, domain.map((s) => s.replace("$JS.hub.API.", "$JS.API.")));
    assert.deepEqual(natsPermissions("llm", "worker", { name: "a", models: ["m"] }).publish.allow.filter((s) => s.startsWith("$JS.API.")), local, "no grant beyond the domainless user's");
  });

  test("a worker beats and takes cancels under its own name only", () => {
    assert.ok(worker.publish.allow.includes("llm.hb.w.gpu1.*"));
    assert.ok(worker.subscribe.allow.includes("llm.ctl.gpu1.*"));
    assert.ok(!worker.publish.allow.some((s) => s.startsWith("llm.hb.w.*") || s === "llm.hb.w.>"));
    assert.ok(!worker.subscribe.allow.some((s) => s.startsWith("llm.ctl.*") || s === "llm.ctl.>"));
    const s = subjects("llm");
    assert.equal(s.heartbeat("gpu-1-abc123"), "llm.hb.w.gpu-1.abc123", "a name with '-' keeps it; the instance is the last part");
    assert.equal(s.control("gpu-1-abc123"), "llm.ctl.gpu-1.abc123");
  });

  test("a gateway with a fixed id reads its own replies and inbox only", () => {
    const a = natsPermissions("llm", "gateway", { gatewayId: "gw-a" });
    assert.deepEqual(a.subscribe.allow.filter((x) => x.startsWith("llm.out") || x.startsWith("_INBOX")), ["llm.out.gw-a.*", "_INBOX_gw.gw-a.>"]);
    assert.deepEqual(a.publish, gateway.publish, "it publishes what any gateway does");
    assert.throws(() => natsPermissions("llm", "gateway", { gatewayId: "a.*" }), /a gateway id is letters/);
  });

  test("a worker without a name is a mistake, not a user with a shared inbox", () => {
    assert.throws(() => natsPermissions("llm", "worker", { models: [] }));
  });
});

describe("natsServerConfig", () => {
  test("nats-server 2.9.10 accepts what it renders (-t)", (t) => {
    const bin = findNatsServer();
    if (!bin) return t.skip("no nats-server");
    const dir = mkdtempSync(join(tmpdir(), "roles-"));
    const file = join(dir, "nats.conf");
    writeFileSync(file, natsServerConfig([
      { user: "gateway", password: "p\"q", permissions: natsPermissions("llm", "gateway") },
      { user: "worker-a", password: "x", permissions: natsPermissions("llm", "worker", { name: "a", models: ["m"] }) },
    ]).replace("jetstream {}", `jetstream { store_dir: ${JSON.stringify(join(dir, "js"))} }`));
    const r = spawnSync(bin, ["-c", file, "-t"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr + r.stdout);
  });

  test("broker nats-config prints a gateway user and one per worker, passwords only in --json or on stderr", async () => {
    const cfg = parseConfig({ ...structuredClone(defaultConfig), workers: [{ name: "sim", models: [{ id: "m", engine: "sim" }] }] });
    const plain = await runCli(cfg, ["nats-config"]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /authorization \{/);
    assert.match(plain.stdout, /"user":"gateway"/);
    assert.match(plain.stdout, /"user":"worker-sim"/);
    assert.match(plain.stderr, /^NATS_USER=worker-sim NATS_PASSWORD=[A-Za-z0-9_-]{32}  # broker worker --name sim$/m);
    const json = await runCli(cfg, ["nats-config", "--json"]);
    const out = JSON.parse(json.stdout) as { config: string; users: { user: string; password: string }[] };
    assert.deepEqual(out.users.map((u) => u.user), ["gateway", "worker-sim"]);
    for (const u of out.users) assert.ok(out.config.includes(JSON.stringify(u.password)));
    assert.notEqual(out.users[0]?.password, out.users[1]?.password);
  });

  test("broker nats-config --gateway-id makes one gateway user per id, each reading only its own replies", async () => {
    const cfg = parseConfig({ ...structuredClone(defaultConfig), workers: [{ name: "sim", models: [{ id: "m", engine: "sim" }] }] });
    const r = await runCli(cfg, ["nats-config", "--gateway-id", "a", "--gateway-id", "b"]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /"user":"gateway"/);
    assert.match(r.stdout, /"user":"gateway-a".*"infer\.out\.a\.\*".*"_INBOX_gw\.a\.>"/);
    assert.match(r.stdout, /"user":"gateway-b".*"infer\.out\.b\.\*"/);
    assert.match(r.stderr, /^NATS_USER=gateway-a NATS_PASSWORD=\S+  # GATEWAY_ID=a broker gateway/m);
    const bad = await runCli(cfg, ["nats-config", "--gateway-id", "a.b"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--gateway-id 'a\.b': letters, digits/);
  });
});
