import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, PermissionViolationError, usernamePasswordAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import type OpenAI from "openai";
import { pb, subjects } from "../../contract/mod.js";
import type { Config } from "../../config/mod.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { inboxPrefix, natsAuthorization, natsPermissions, type NatsUser } from "../../nats/mod.js";
import { messageText } from "../helpers/bodies.js";
import { freshPrefix, runCli, spawnGateway, spawnWorker, startTestGateway, testConfig, waitFor, waitForModel, type WorkerProcess } from "../helpers/broker.js";
import { adminWorkers } from "../helpers/metrics.js";
import { joinChoices, postJson, postSse, readJson } from "../helpers/http.js";
import { startNats, type TestNats } from "../helpers/nats.js";
import { violations } from "../helpers/violations.js";

const MODEL = "org/sim-1:latest";
const GATEWAY_ID = "gw1";

// A gateway and a `broker worker` process, each its own least-privilege user
// (nats/roles.ts), serve chat completions; raw clients as those users are refused the rest.
describe("least-privilege NATS roles", () => {
  const prefix = freshPrefix();
  const s = subjects(prefix);
  const users: NatsUser[] = [
    { user: "gw", password: "gw-secret", permissions: natsPermissions(prefix, "gateway") },
    // The gateway under test: one with a fixed id, whose user reads that id's replies only.
    { user: "gwa", password: "gwa-secret", permissions: natsPermissions(prefix, "gateway", { gatewayId: GATEWAY_ID }) },
    { user: "wk", password: "wk-secret", permissions: natsPermissions(prefix, "worker", { name: "sim", models: [MODEL] }) },
    // A user with no JetStream grants at all.
    { user: "nojs", password: "nojs-secret", permissions: { publish: { allow: [`${prefix}.>`] }, subscribe: { allow: [`${inboxPrefix.gateway("nojs")}.>`] } } },
    // A worker under a prefix no gateway has provisioned yet.
    { user: "early", password: "early-secret", permissions: natsPermissions(`${prefix}e`, "worker", { name: "sim", models: [MODEL] }) },
  ];
  let nats: TestNats;
  let gw: GatewayHandle;
  let worker: WorkerProcess;
  let cfg: Config;
  const secrets = mkdtempSync(join(tmpdir(), "roles-pw-"));
  // A user's nats section for the processes: the password from a file (config nats.passwordFile).
  const as = (user: string) => {
    const u = users.find((x) => x.user === user);
    const passwordFile = join(secrets, user);
    writeFileSync(passwordFile, u?.password ?? "");
    return { user, passwordFile };
  };
  const conns: NatsConnection[] = [];
  // Under the role's own inbox prefix, as the processes do: any other inbox is refused.
  const connectAs = async (user: "gw" | "gwa" | "wk", pass: string): Promise<NatsConnection> => {
    const prefix = user === "gw" ? inboxPrefix.gateway("probe") : user === "gwa" ? inboxPrefix.gateway(GATEWAY_ID) : inboxPrefix.worker("sim");
    const nc = await connect({ servers: `127.0.0.1:${nats.port}`, user, pass, timeout: 2000, inboxPrefix: prefix });
    conns.push(nc);
    return nc;
  };

  before(async () => {
    nats = await startNats({ extraConfig: natsAuthorization(users), probe: { authenticator: usernamePasswordAuthenticator("gw", "gw-secret"), inboxPrefix: inboxPrefix.gateway("probe") } });
    cfg = testConfig(nats.url, {
      nats: { prefix, ...as("gwa") },
      gateway: { id: GATEWAY_ID },
      workers: [{ name: "sim", slots: 2, models: [{ id: MODEL, engine: "sim", options: { outputTokens: 8 } }] }],
    });
    // The gateway first: it provisions the jobs stream, which a worker may only look up.
    gw = await startTestGateway(cfg);
    worker = spawnWorker({ ...cfg, nats: { ...cfg.nats, ...as("wk") } }, "sim");
    await waitForModel(gw.url, MODEL);
  });
  after(async () => {
    for (const nc of conns) await nc.close();
    await gw?.close();
    worker?.child.kill("SIGTERM");
    await worker?.exited;
    await nats?.close();
    rmSync(secrets, { recursive: true, force: true });
  });

  const chat = () => `${gw.url}/v1/chat/completions`;
  const body = { model: MODEL, messages: [{ role: "user", content: "hi" }], seed: 3 };

  test("a gateway and a worker, each with its own user, serve a chat completion, stream and not", async () => {
    const res = await readJson<OpenAI.ChatCompletion>(postJson(chat(), body));
    assert.equal(res.object, "chat.completion", JSON.stringify(res));
    assert.ok(messageText(res).length > 0);
    // The claim (worker → gateway reply subject → worker inbox) went through: the gateway answers under allow_responses.
    const r = await postSse<OpenAI.ChatCompletionChunk>(chat(), { ...body, stream: true });
    assert.equal(r.status, 200);
    assert.ok(r.done);
    assert.equal(joinChoices(r.events).get(0)?.text, res.choices[0]?.message.content);
    // connectNats logs every status error (a refusal included) as "nats error" at warn, the test's level.
    assert.doesNotMatch(worker.output(), /nats error|Permissions Violation/i, "the worker ran into no refusal of its own");
  });

  test("the gateway user stores, reads and deletes responses in its bucket (/v1/responses)", async () => {
    const created = await readJson<{ id: string; status: string }>(postJson(`${gw.url}/v1/responses`, { model: MODEL, input: "hi" }));
    assert.equal(created.status, "completed", JSON.stringify(created));
    const got = await readJson<{ id: string }>(fetch(`${gw.url}/v1/responses/${created.id}`));
    assert.equal(got.id, created.id);
    assert.equal((await fetch(`${gw.url}/v1/responses/${created.id}`, { method: "DELETE" })).status, 200);
    assert.equal((await fetch(`${gw.url}/v1/responses/${created.id}`)).status, 404);
  });

  test("the worker user may not publish jobs", async () => {
    const nc = await connectAs("wk", "wk-secret");
    const refused = violations(nc);
    const job = `${prefix}.jobs.x.normal`;
    // No stream ack comes back: the server dropped the message before JetStream saw it.
    await assert.rejects(jetstream(nc, { timeout: 1000 }).publish(job, "forged"));
    await refused("publish", job);
  });

  test("the worker user may not read replies, a gateway's inbox, or the keys bucket", async () => {
    const nc = await connectAs("wk", "wk-secret");
    const refused = violations(nc);
    const gwInbox = `${inboxPrefix.gateway(GATEWAY_ID)}.>`;
    for (const subject of [`${prefix}.out.>`, gwInbox, "_INBOX.>", `$KV.${prefix}-keys.>`]) {
      const sub = nc.subscribe(subject);
      await refused("subscription", subject);
      // nats.js closes the refused subscription with the error.
      assert.ok((await sub.closed) instanceof PermissionViolationError, subject);
    }
    // Kvm.open() only binds (no request); the read and the write are what the server refuses.
    const bucket = `${prefix}-keys`;
    const kv = await new Kvm(jetstream(nc, { timeout: 1000 })).open(bucket);
    await assert.rejects(kv.get("anything"));
    await refused("publish", new RegExp(`^\\$JS\\.API\\.(DIRECT\\.GET|STREAM\\.MSG\\.GET)\\.KV_${bucket}`));
    await assert.rejects(kv.put("anything", "forged"));
    await refused("publish", `$KV.${bucket}.anything`);
    nc.publish(`$JS.API.DIRECT.GET.KV_${prefix}-keys.$KV.${prefix}-keys.anything`);
    await refused("publish", `$JS.API.DIRECT.GET.KV_${prefix}-keys.$KV.${prefix}-keys.anything`);
  });

  test("the worker user beats and hears cancels under its own worker name only; a gateway ignores a beat whose id is not its subject's", async () => {
    const nc = await connectAs("wk", "wk-secret");
    const refused = violations(nc);
    const other = s.control("other-abc");
    const sub = nc.subscribe(other);
    await refused("subscription", other);
    assert.ok((await sub.closed) instanceof PermissionViolationError);
    nc.publish(s.heartbeat("other-abc"), new Uint8Array());
    await refused("publish", s.heartbeat("other-abc"));
    // Under its own name, a beat claiming another worker's id: allowed to publish, not believed.
    const forged = pb.WorkerHeartbeat.encode({ workerId: "other-abc", models: [{ model: MODEL, engine: "sim", completed: 0 }], slots: 1, intervalMs: 1000, controlSubject: other }).finish();
    nc.publish(s.heartbeat("sim-forged"), forged);
    // Then a genuine one under its own name: once it is listed, the forged one had its turn first.
    nc.publish(s.heartbeat("sim-genuine"), pb.WorkerHeartbeat.encode({ workerId: "sim-genuine", models: [{ model: MODEL, engine: "sim", completed: 0 }], slots: 1, intervalMs: 1000, controlSubject: s.control("sim-genuine") }).finish());
    await waitFor(async () => (await adminWorkers(gw.url)).some((w) => w.id === "sim-genuine"), "the genuine beat to be seen");
    assert.ok(!(await adminWorkers(gw.url)).some((w) => w.id === "other-abc"), "the forged id was not listed");
  });

  test("the worker user may not create, delete or purge streams, nor pull another model's consumer", async () => {
    const nc = await connectAs("wk", "wk-secret");
    const refused = violations(nc);
    const jsm = await jetstreamManager(nc, { timeout: 1000 });
    await assert.rejects(jsm.streams.add({ name: `${s.stream}_SPY`, subjects: [`${prefix}.spy.>`] }));
    await refused("publish", `$JS.API.STREAM.CREATE.${s.stream}_SPY`);
    await assert.rejects(jsm.streams.delete(s.stream));
    await refused("publish", `$JS.API.STREAM.DELETE.${s.stream}`);
    await assert.rejects(jsm.streams.purge(s.stream));
    await refused("publish", `$JS.API.STREAM.PURGE.${s.stream}`);
    const other = `$JS.API.CONSUMER.MSG.NEXT.${s.stream}.${s.consumer("org/other:latest")}`;
    nc.publish(other, JSON.stringify({ batch: 1, no_wait: true }), { reply: `${inboxPrefix.worker("sim")}.x` });
    await refused("publish", other);
    // Still there, untouched, for the gateway that owns it.
    const gwc = await connectAs("gw", "gw-secret");
    assert.equal((await (await jetstreamManager(gwc)).streams.info(s.stream)).config.name, s.stream);
  });

  test("the gateway user may publish jobs but not act as a worker", async () => {
    const nc = await connectAs("gw", "gw-secret");
    const refused = violations(nc);
    const next = `$JS.API.CONSUMER.MSG.NEXT.${s.stream}.${s.consumer(MODEL)}`;
    nc.publish(next, JSON.stringify({ batch: 1, no_wait: true }), { reply: `${inboxPrefix.gateway(GATEWAY_ID)}.x` });
    await refused("publish", next);
    // Nor make the stream push jobs to it through a consumer of its own.
    const jsm = await jetstreamManager(nc, { timeout: 1000 });
    await assert.rejects(jsm.consumers.add(s.stream, { durable_name: "spy", filter_subject: s.job(MODEL), deliver_subject: `${inboxPrefix.gateway(GATEWAY_ID)}.spy` }));
    await refused("publish", new RegExp(`^\\$JS\\.API\\.CONSUMER\\.(DURABLE\\.)?CREATE\\.${s.stream}\\.`));
  });

  test("a gateway user with a fixed id may not read another gateway's replies or inbox", async () => {
    const nc = await connectAs("gwa", "gwa-secret");
    const refused = violations(nc);
    for (const subject of [`${prefix}.out.other.*`, `${prefix}.out.>`, `${inboxPrefix.gateway("other")}.>`, "_INBOX.>"]) {
      const sub = nc.subscribe(subject);
      await refused("subscription", subject);
      assert.ok((await sub.closed) instanceof PermissionViolationError, subject);
    }
    // Its own are allowed: a subscription that stays open through a round trip was not refused.
    const own = nc.subscribe(s.replyAll(GATEWAY_ID));
    await nc.flush();
    assert.equal(own.isClosed(), false);
  });

  test("a worker that comes before any gateway stops with one line: it may not create the jobs stream", async () => {
    const early = spawnWorker({ ...cfg, nats: { ...cfg.nats, prefix: `${prefix}e`, ...as("early") } }, "sim");
    assert.equal(await early.exited, 1);
    assert.match(early.output(), /broker: the jobs stream \S+ does not exist and this NATS user may not create it: start a gateway first/);
  });

  test("a gateway whose NATS user may not use JetStream stops with one line naming what to check", async () => {
    const gwNoJs = spawnGateway({ ...cfg, gateway: { ...cfg.gateway, id: "nojs", port: 0 }, nats: { ...cfg.nats, ...as("nojs") } });
    assert.equal(await gwNoJs.exited, 1, gwNoJs.output());
    assert.match(gwNoJs.output(), /^broker: JetStream did not answer \$JS\.API\.INFO \(.*\): is JetStream on \(nats-server -js\), is nats\.jsDomain right, and may this NATS user use its API/m);
    assert.doesNotMatch(gwNoJs.output(), /\n\s+at /, "a line, not a stack");
  });

  test("the admin commands (broker keys, broker usage) run as the gateway user (its fixed id's)", async () => {
    const keys = await runCli(cfg, ["keys", "create", "--name", "roles-admin"]);
    assert.equal(keys.code, 0, keys.stderr);
    const usage = await runCli(cfg, ["usage"]);
    assert.equal(usage.code, 0, usage.stderr);
  });
});
