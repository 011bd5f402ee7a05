import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { applyEnv, ConfigError, parseConfig, type Config } from "../../config/config.js";
import { embeddedCredentials, isEmbeddedUrl, passwordFile, withEmbeddedCredentials } from "../../ops/embedded-credentials.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A data dir with password files for `users`, and a config on it (port 4300) from the raw config and env. */
function setup(users: string[], raw: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): { cfg: Config; dataDir: string } {
  const dataDir = mkdtempSync(join(tmpdir(), "embedded-creds-"));
  dirs.push(dataDir);
  mkdirSync(join(dataDir, "credentials"));
  for (const u of users) writeFileSync(passwordFile(dataDir, u), "pw\n");
  const nats = { url: "nats://127.0.0.1:4300", ...(raw.nats as object | undefined) };
  const cfg = parseConfig(applyEnv({ ...raw, nats, embeddedNats: { port: 4300, dataDir } }, env));
  return { cfg, dataDir };
}

test("one loopback URL on the embedded port is the embedded server; anything else is not", () => {
  for (const url of ["nats://127.0.0.1:4300", "127.0.0.1:4300", "nats://localhost:4300", "localhost:4300", "nats://[::1]:4300", "tls://127.0.0.1:4300"]) {
    assert.ok(isEmbeddedUrl(url, 4300), url);
  }
  assert.ok(isEmbeddedUrl("nats://127.0.0.1", 4222), "no port: 4222");
  assert.ok(isEmbeddedUrl("localhost", 4222));
  for (const url of ["nats://127.0.0.1:4301", "nats://10.0.0.5:4300", "nats://nats.internal:4300", "nats://127.0.0.1:4300,nats://127.0.0.1:4301", "nats://a:b@127.0.0.1:4300", "nats://127.0.0.1"]) {
    assert.ok(!isEmbeddedUrl(url, 4300), url);
  }
});

test("with no credentials of its own, a role logs in as its user with broker up's password file", () => {
  const { cfg, dataDir } = setup(["gateway", "worker-gpu0"]);
  const gw = withEmbeddedCredentials(cfg, "gateway").nats;
  assert.deepEqual([gw.user, gw.passwordFile], ["gateway", join(dataDir, "credentials", "gateway.password")]);
  const wk = withEmbeddedCredentials(cfg, "worker-gpu0").nats;
  assert.deepEqual([wk.user, wk.passwordFile], ["worker-gpu0", join(dataDir, "credentials", "worker-gpu0.password")]);
  // A role whose file broker up has not made (a worker added since): left as it is, for NATS to refuse with its one line.
  assert.equal(withEmbeddedCredentials(cfg, "worker-new"), cfg);
});

test("credentials in the file or the env, another port, host or several servers: the config is kept", () => {
  const keep = (raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => {
    const { cfg } = setup(["gateway"], raw, env);
    assert.equal(withEmbeddedCredentials(cfg, "gateway"), cfg, JSON.stringify({ raw, env }));
  };
  keep({ nats: { user: "me", passwordEnv: "PW" } });
  keep({ nats: { tokenFile: "/t" } });
  keep({ nats: { credsFile: "/c" } });
  keep({ nats: { nkeySeedFile: "/s" } });
  keep({}, { NATS_USER: "me", NATS_PASSWORD_FILE: "/p" });
  keep({}, { NATS_TOKEN: "t" });
  keep({ nats: { url: "nats://127.0.0.1:4301" } });
  keep({ nats: { url: "nats://192.168.1.2:4300" } });
  keep({ nats: { url: "nats://127.0.0.1:4300,nats://127.0.0.1:4301" } });
});

test("a password file that exists but cannot be read is one clear line", () => {
  const { cfg, dataDir } = setup([]);
  // A directory in the file's place: unreadable even for root, who reads any mode.
  mkdirSync(passwordFile(dataDir, "gateway"));
  assert.throws(() => withEmbeddedCredentials(cfg, "gateway"), (e: Error) =>
    e instanceof ConfigError && /^cannot read .*gateway\.password \(EISDIR\), a password of broker up's nats-server: run as the user that ran broker up/.test(e.message) && !e.message.includes("\n"));
});

test("passwords are made once, 0600 in a 0700 dir, and kept; a new worker gets its own", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "embedded-creds-"));
  dirs.push(dataDir);
  const worker = (name: string) => ({ name, models: [{ id: `m-${name}`, engine: "sim" }] });
  const first = embeddedCredentials(parseConfig({ embeddedNats: { dataDir }, workers: [worker("a")] }));
  assert.deepEqual(first.users.map((u) => u.user), ["gateway", "worker-a", "admin"]);
  for (const u of first.users) assert.match(u.password, /^[A-Za-z0-9_-]{32}$/);
  assert.equal(new Set(first.users.map((u) => u.password)).size, 3);
  assert.equal(first.users.find((u) => u.user === "admin")?.permissions, undefined);
  assert.ok(first.users.find((u) => u.user === "worker-a")?.permissions?.publish.allow.length);
  assert.equal(statSync(join(dataDir, "credentials")).mode & 0o777, 0o700);
  assert.equal(statSync(first.passwordFile("gateway")).mode & 0o777, 0o600);

  const second = embeddedCredentials(parseConfig({ embeddedNats: { dataDir }, workers: [worker("a"), worker("b")] }));
  const pw = (c: typeof first, user: string) => c.users.find((u) => u.user === user)?.password;
  for (const u of ["gateway", "worker-a", "admin"]) assert.equal(pw(second, u), pw(first, u), u);
  assert.match(pw(second, "worker-b") ?? "", /^[A-Za-z0-9_-]{32}$/);

  writeFileSync(second.passwordFile("admin"), "\n");
  assert.throws(() => embeddedCredentials(parseConfig({ embeddedNats: { dataDir } })), /admin\.password is empty: delete it/);
});
