import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from "@nats-io/jwt";
import { credsAuthenticator, nkeys, tokenAuthenticator, usernamePasswordAuthenticator } from "@nats-io/transport-node";
import type { Config } from "../../config/config.js";
import { runCli, spawnGateway, spawnWorker, startTestGateway, testConfig, waitForModel } from "../helpers/broker.js";
import { postJson, readJson } from "../helpers/http.js";
import { startNats, type TestNats } from "../helpers/nats.js";
import { makeTestPki } from "../helpers/tls.js";

// Secrets distinctive enough that finding one in any output is a leak, not a coincidence.
const PASSWORD = "pw-alice-4d7f1c9e2b8a6035";
const TOKEN = "tok-5b9e2d7c1a3f8e6d4c2b";
const WRONG = "wrong-secret-8c1e5a9d3f7b";
const WORKERS = [{ name: "sim", slots: 2, models: [{ id: "sim", engine: "sim", options: { outputTokens: 4 } }] }];
const DEBUG = { LOG_LEVEL: "debug" };

/** Runs `fn` after the test, newest first: processes before the nats-server they need. */
function defer(t: TestContext, fn: () => Promise<unknown> | void): void {
  const list = stacks.get(t) ?? [];
  if (!stacks.has(t)) {
    stacks.set(t, list);
    t.after(async () => {
      for (const f of list.reverse()) await f();
    });
  }
  list.push(fn);
}
const stacks = new WeakMap<TestContext, (() => Promise<unknown> | void)[]>();

async function server(t: TestContext, opts: Parameters<typeof startNats>[0]): Promise<TestNats> {
  const nats = await startNats(opts);
  defer(t, () => nats.close());
  return nats;
}

/**
 * An in-process gateway and a `broker worker` process (at debug) on `cfg`
 * serve one sim chat completion; returns the worker's whole output.
 */
async function serveOneChat(t: TestContext, cfg: Config, env: Record<string, string> = {}): Promise<string> {
  // The in-process gateway reads its secret from this process's env, as `broker gateway` would.
  for (const [k, v] of Object.entries(env)) process.env[k] = v;
  defer(t, () => {
    for (const k of Object.keys(env)) delete process.env[k];
  });
  const gw = await startTestGateway(cfg);
  defer(t, () => gw.close());
  const w = spawnWorker(cfg, "sim", { ...DEBUG, ...env });
  defer(t, async () => {
    w.child.kill("SIGKILL");
    await w.exited;
  });
  await waitForModel(gw.url, "sim");
  const res = await postJson(`${gw.url}/v1/chat/completions`, { model: "sim", messages: [{ role: "user", content: "hello" }] });
  assert.equal(res.status, 200);
  const body = await readJson<{ choices: { message: { content: string } }[] }>(res);
  assert.ok((body.choices[0]?.message.content ?? "").length > 0);
  return w.output();
}

/** `broker gateway` at debug must exit 1 within a few seconds with exactly one line; returns it. */
async function refusedAtStart(cfg: Config, env: Record<string, string>): Promise<string> {
  const started = Date.now();
  const gw = spawnGateway(cfg, [], { ...DEBUG, ...env });
  const timer = setTimeout(() => gw.child.kill("SIGKILL"), 8000);
  const code = await gw.exited.finally(() => clearTimeout(timer));
  assert.equal(code, 1, `exit code; output:\n${gw.output()}`);
  assert.ok(Date.now() - started < 6000, `took ${Date.now() - started} ms`);
  const lines = gw.output().trim().split("\n");
  assert.equal(lines.length, 1, gw.output());
  return lines[0] ?? "";
}

describe("NATS users with passwords and nkeys", () => {
  const nkey = nkeys.createUser();
  const extraConfig = `authorization { users: [ { user: alice, password: "${PASSWORD}" }, { nkey: "${nkey.getPublicKey()}" } ] }`;
  const probe = { authenticator: usernamePasswordAuthenticator("alice", PASSWORD) };

  test("user + passwordEnv: a gateway, a worker and the CLI connect; the password is in no output", async (t) => {
    const nats = await server(t, { extraConfig, probe });
    const cfg = testConfig(nats.url, { nats: { user: "alice", passwordEnv: "NATS_AUTH_TEST_PW" }, workers: WORKERS });
    const env = { NATS_AUTH_TEST_PW: PASSWORD };
    const out = await serveOneChat(t, cfg, env);
    assert.ok(!out.includes(PASSWORD), "worker output has the password");
    const keys = await runCli(cfg, ["keys", "list"], { ...DEBUG, ...env });
    assert.equal(keys.code, 0, keys.stderr);
    const usage = await runCli(cfg, ["usage"], env);
    assert.equal(usage.code, 0, usage.stderr);
    assert.ok(!`${keys.stdout}${keys.stderr}${usage.stdout}${usage.stderr}`.includes(PASSWORD));
  });

  test("NATS_USER + NATS_PASSWORD alone, from the env, are enough", async (t) => {
    const nats = await server(t, { extraConfig, probe });
    const cfg = testConfig(nats.url);
    const keys = await runCli(cfg, ["keys", "list"], { NATS_USER: "alice", NATS_PASSWORD: PASSWORD });
    assert.equal(keys.code, 0, keys.stderr);
  });

  test("an nkey seed file: a gateway and a worker connect", async (t) => {
    const nats = await server(t, { extraConfig, probe });
    const seedFile = join(makeTestPki().dir, "user.nk");
    writeFileSync(seedFile, new TextDecoder().decode(nkey.getSeed()));
    await serveOneChat(t, testConfig(nats.url, { nats: { nkeySeedFile: seedFile }, workers: WORKERS }));
  });

  test("a wrong password, or none, stops `broker gateway` and `broker keys` at once with one line", async (t) => {
    const nats = await server(t, { extraConfig, probe });
    const cfg = testConfig(nats.url, { nats: { user: "alice", passwordEnv: "NATS_AUTH_TEST_PW" } });
    const line = await refusedAtStart(cfg, { NATS_AUTH_TEST_PW: WRONG });
    assert.match(line, /^broker: NATS refused the credentials \(Authorization Violation\) at nats:\/\/127\.0\.0\.1:\d+: check nats\.user and NATS_AUTH_TEST_PW$/);
    assert.ok(!line.includes(WRONG));
    const none = await refusedAtStart(testConfig(nats.url), {});
    assert.match(none, /^broker: NATS refused the credentials \(Authorization Violation\) at .*: check nats\.user \+ NATS_PASSWORD, NATS_TOKEN, NATS_NKEY or NATS_CREDS \(none is set\)$/);
    const keys = await runCli(cfg, ["keys", "list"], { NATS_AUTH_TEST_PW: WRONG });
    assert.equal(keys.code, 1);
    assert.match(keys.stderr.trim(), /^broker: NATS refused the credentials/);
    assert.ok(!`${keys.stdout}${keys.stderr}`.includes(WRONG));
  });
});

describe("a NATS token", () => {
  const extraConfig = `authorization { token: "${TOKEN}" }`;
  const probe = { authenticator: tokenAuthenticator(TOKEN) };

  test("tokenEnv: a gateway and a worker connect; the token is in no output", async (t) => {
    const nats = await server(t, { extraConfig, probe });
    const out = await serveOneChat(t, testConfig(nats.url, { nats: { tokenEnv: "NATS_AUTH_TEST_TOKEN" }, workers: WORKERS }), { NATS_AUTH_TEST_TOKEN: TOKEN });
    assert.ok(!out.includes(TOKEN), "worker output has the token");
  });

  test("a tokenFile works, and a wrong NATS_TOKEN stops the gateway with one line", async (t) => {
    const nats = await server(t, { extraConfig, probe });
    const file = join(makeTestPki().dir, "token");
    writeFileSync(file, `${TOKEN}\n`);
    const keys = await runCli(testConfig(nats.url, { nats: { tokenFile: file } }), ["keys", "list"]);
    assert.equal(keys.code, 0, keys.stderr);
    const line = await refusedAtStart(testConfig(nats.url, { nats: { tokenFile: file } }), { NATS_TOKEN: WRONG });
    assert.match(line, /^broker: NATS refused the credentials \(Authorization Violation\) at .*: check NATS_TOKEN$/);
    assert.ok(!line.includes(WRONG) && !line.includes(TOKEN));
  });
});

describe("TLS with client certificates (mutual TLS)", () => {
  const pki = makeTestPki();
  const extraConfig = `tls { cert_file: "${pki.serverCert}", key_file: "${pki.serverKey}", ca_file: "${pki.caFile}", verify: true, timeout: 2 }`;
  const probe = { tls: { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey } };
  const tls = { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey };
  const tlsUrl = (n: TestNats) => n.url.replace("nats://", "tls://");

  test("a tls:// URL with a CA, a client certificate and a server name: a gateway and a worker connect", async (t) => {
    const nats = await server(t, { extraConfig, probe });
    await serveOneChat(t, testConfig(tlsUrl(nats), { nats: { tls: { ...tls, serverName: "nats.test" } }, workers: WORKERS }));
  });

  test("a server that does not verify clients: a CA alone is enough", async (t) => {
    const serverOnly = `tls { cert_file: "${pki.serverCert}", key_file: "${pki.serverKey}", timeout: 2 }`;
    const nats = await server(t, { extraConfig: serverOnly, probe: { tls: { caFile: pki.caFile } } });
    await serveOneChat(t, testConfig(tlsUrl(nats), { nats: { tls: { caFile: pki.caFile, serverName: "nats.test" } }, workers: WORKERS }));
  });

  test("the wrong CA, or a server name the certificate lacks, stops the gateway with one line", async (t) => {
    const nats = await server(t, { extraConfig, probe });
    const wrongCa = await refusedAtStart(testConfig(tlsUrl(nats), { nats: { tls: { ...tls, caFile: pki.otherCaFile } } }), {});
    assert.match(wrongCa, /^broker: TLS to NATS failed at tls:\/\/127\.0\.0\.1:\d+ \(.*certificate.*\): check nats\.tls\.caFile \(NATS_CA\), or the URL$/);
    const wrongName = await refusedAtStart(testConfig(tlsUrl(nats), { nats: { tls: { ...tls, serverName: "wrong.example" } } }), {});
    assert.match(wrongName, /^broker: TLS to NATS failed at .* \(Hostname\/IP does not match certificate's altnames: .*\): check nats\.tls\.serverName and the URL's host$/);
    // A server that verifies clients, and a client with no certificate of its own.
    const noCert = await refusedAtStart(testConfig(tlsUrl(nats), { nats: { tls: { caFile: pki.caFile, serverName: "nats.test" } } }), {});
    assert.match(noCert, /^broker: TLS to NATS failed at .*: check nats\.tls\.certFile and keyFile \(NATS_CERT, NATS_KEY\): this server verifies client certificates$/);
    // NATS_CA overrides the file's CA, so the right one from the env repairs the wrong one in the file.
    const keys = await runCli(testConfig(tlsUrl(nats), { nats: { tls: { ...tls, caFile: pki.otherCaFile } } }), ["keys", "list"], { NATS_CA: pki.caFile });
    assert.equal(keys.code, 0, keys.stderr);
  });
});

describe("decentralized auth: a .creds file (user JWT and seed)", () => {
  /** An operator, a system account and an app account with JetStream, as `nsc` would make them; the server resolves them from memory. */
  async function operatorMode() {
    const operator = nkeys.createOperator();
    const system = nkeys.createAccount();
    const app = nkeys.createAccount();
    // Every limit off (an account JWT's missing limits are 0: no connection at all).
    const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };
    const preload = {
      [system.getPublicKey()]: await encodeAccount("SYS", system, {}, { signer: operator }),
      [app.getPublicKey()]: await encodeAccount("APP", app, { limits: unlimited }, { signer: operator }),
    };
    const extraConfig = [
      `operator: ${await encodeOperator("OP", operator, { system_account: system.getPublicKey() })}`,
      `system_account: ${system.getPublicKey()}`,
      "resolver: MEMORY",
      `resolver_preload: ${JSON.stringify(preload)}`,
    ].join("\n");
    const creds = async (account: nkeys.KeyPair): Promise<Uint8Array> => {
      const user = nkeys.createUser();
      return fmtCreds(await encodeUser("broker", user, account), user);
    };
    return { extraConfig, app, creds };
  }

  test("a gateway and a worker connect with nats.credsFile; a user of an account the server does not know is refused in one line", async (t) => {
    const { extraConfig, app, creds } = await operatorMode();
    const appCreds = await creds(app);
    const nats = await server(t, { extraConfig, probe: { authenticator: credsAuthenticator(appCreds) } });
    const dir = mkdtempSync(join(tmpdir(), "creds-"));
    defer(t, () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "broker.creds");
    writeFileSync(file, appCreds, { mode: 0o600 });
    const output = await serveOneChat(t, testConfig(nats.url, { nats: { credsFile: file }, workers: WORKERS }));
    const seed = new TextDecoder().decode(appCreds).match(/SU[A-Z0-9]{56}/)?.[0] ?? "";
    assert.ok(seed && !output.includes(seed), "the seed is in no output");
    const stranger = join(dir, "stranger.creds");
    writeFileSync(stranger, await creds(nkeys.createAccount()), { mode: 0o600 });
    const line = await refusedAtStart(testConfig(nats.url, { nats: { credsFile: stranger } }), {});
    assert.match(line, /^broker: NATS refused the credentials \(.*\) at nats:\/\/127\.0\.0\.1:\d+: check nats\.credsFile \(NATS_CREDS\)$/);
  });
});
