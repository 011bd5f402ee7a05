import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { applyEnv, ConfigError, parseConfig } from "../../config/config.js";
import { redactUrl, resolveNatsAuth } from "../../nats/auth.js";

const natsOf = (nats: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => parseConfig(applyEnv({ nats }, env)).nats;

test("each way to authenticate parses alone", () => {
  assert.equal(natsOf({ user: "a", passwordEnv: "PW" }).user, "a");
  assert.equal(natsOf({ user: "a", passwordFile: "/p" }).passwordFile, "/p");
  assert.equal(natsOf({ tokenEnv: "TOK" }).tokenEnv, "TOK");
  assert.equal(natsOf({ tokenFile: "/t" }).tokenFile, "/t");
  assert.equal(natsOf({ nkeySeedFile: "/s" }).nkeySeedFile, "/s");
  assert.equal(natsOf({ credsFile: "/c" }).credsFile, "/c");
  assert.deepEqual(natsOf({ tls: { caFile: "/ca", certFile: "/c", keyFile: "/k", serverName: "n" } }).tls, { caFile: "/ca", certFile: "/c", keyFile: "/k", serverName: "n" });
});

test("two ways to authenticate, half a method or a raw secret stop the process naming the field", () => {
  assert.throws(() => natsOf({ user: "a", passwordEnv: "PW", tokenEnv: "TOK" }), /give one way to authenticate.*found user, passwordEnv, tokenEnv/);
  assert.throws(() => natsOf({ credsFile: "/c", nkeySeedFile: "/s" }), /give one way to authenticate/);
  assert.throws(() => natsOf({ user: "a" }), /nats\.passwordEnv: user needs passwordEnv or passwordFile/);
  assert.throws(() => natsOf({ passwordEnv: "PW" }), /nats\.user: a password needs a user/);
  assert.throws(() => natsOf({ user: "a", passwordEnv: "PW", passwordFile: "/p" }), /nats\.passwordFile: give passwordEnv or passwordFile, not both/);
  assert.throws(() => natsOf({ tokenEnv: "TOK", tokenFile: "/t" }), /nats\.tokenFile/);
  assert.throws(() => natsOf({ tls: { certFile: "/c" } }), /nats\.tls\.certFile: give certFile and keyFile together/);
  // The secret itself has no field: strict objects name it as unknown.
  assert.throws(() => natsOf({ user: "a", password: "hunter2" }), /nats.*password/);
  assert.throws(() => natsOf({ token: "t" }), /nats.*token/);
  assert.throws(() => natsOf({ tokenEnv: "not a name" }), /nats\.tokenEnv: an environment variable name/);
});

test("env vars name where a secret is, replacing the file's method, never holding the secret", () => {
  const file = { user: "a", passwordFile: "/p" };
  const pw = natsOf(file, { NATS_PASSWORD: "hunter2" });
  assert.deepEqual([pw.user, pw.passwordEnv, pw.passwordFile], ["a", "NATS_PASSWORD", undefined]);
  assert.ok(!JSON.stringify(pw).includes("hunter2"));
  const user = natsOf(file, { NATS_USER: "b" });
  assert.deepEqual([user.user, user.passwordFile], ["b", "/p"]);
  const pwFile = natsOf({ user: "a", passwordEnv: "PW" }, { NATS_PASSWORD_FILE: "/q" });
  assert.deepEqual([pwFile.user, pwFile.passwordEnv, pwFile.passwordFile], ["a", undefined, "/q"]);
  const both = natsOf({ tokenFile: "/t" }, { NATS_USER: "b", NATS_PASSWORD_FILE: "/q" });
  assert.deepEqual([both.user, both.passwordFile, both.tokenFile], ["b", "/q", undefined]);
  assert.throws(() => natsOf({}, { NATS_USER: "b", NATS_PASSWORD: "x", NATS_PASSWORD_FILE: "/q" }), /NATS_PASSWORD, NATS_PASSWORD_FILE: set the password or the file/);
  assert.throws(() => natsOf({}, { NATS_PASSWORD_FILE: "/q", NATS_TOKEN: "t" }), /set only one way/);
  const token = natsOf(file, { NATS_TOKEN: "secret-token" });
  assert.deepEqual([token.user, token.passwordFile, token.tokenEnv], [undefined, undefined, "NATS_TOKEN"]);
  assert.ok(!JSON.stringify(token).includes("secret-token"));
  assert.equal(natsOf({ tokenEnv: "T" }, { NATS_CREDS: "/u.creds" }).credsFile, "/u.creds");
  assert.equal(natsOf({}, { NATS_NKEY: "/u.nk" }).nkeySeedFile, "/u.nk");
  assert.deepEqual(natsOf({ tls: { serverName: "n" } }, { NATS_CA: "/ca", NATS_CERT: "/c", NATS_KEY: "/k" }).tls, { serverName: "n", caFile: "/ca", certFile: "/c", keyFile: "/k" });
  assert.throws(() => natsOf({}, { NATS_TOKEN: "t", NATS_CREDS: "/c" }), (e: Error) => e instanceof ConfigError && /NATS_TOKEN, NATS_CREDS: set only one way/.test(e.message));
});

test("resolving reads each secret from its env var or file, and says which field is missing", () => {
  const dir = mkdtempSync(join(tmpdir(), "nats-auth-"));
  writeFileSync(join(dir, "pw"), "from-file\nignored\n");
  assert.ok(resolveNatsAuth(natsOf({ user: "a", passwordFile: join(dir, "pw") })).authenticator);
  assert.match(resolveNatsAuth(natsOf({ user: "a", passwordEnv: "PW" }), { PW: "x" }).authHint, /nats\.user and PW/);
  assert.throws(() => resolveNatsAuth(natsOf({ user: "a", passwordEnv: "PW" }), {}), /nats\.passwordEnv: the environment variable PW is not set/);
  assert.throws(() => resolveNatsAuth(natsOf({ tokenFile: join(dir, "nope") }), {}), /nats\.tokenFile: cannot read .*ENOENT/);
  writeFileSync(join(dir, "empty"), "\n");
  assert.throws(() => resolveNatsAuth(natsOf({ tokenFile: join(dir, "empty") }), {}), /nats\.tokenFile: .* is empty/);
  assert.throws(() => resolveNatsAuth(natsOf({ nkeySeedFile: join(dir, "pw") }), {}), /nats\.nkeySeedFile: .* holds no nkey seed/);
  assert.throws(() => resolveNatsAuth(natsOf({ credsFile: join(dir, "pw") }), {}), /nats\.credsFile: .* is not a \.creds file/);
  assert.throws(() => resolveNatsAuth(natsOf({ tls: { caFile: join(dir, "ca.pem") } }), {}), /nats\.tls\.caFile: cannot read/);
  const tls = resolveNatsAuth(natsOf({ tls: { caFile: join(dir, "pw"), serverName: "nats.test" } }), {}).tls;
  assert.deepEqual(tls, { ca: "from-file\nignored\n", servername: "nats.test" });
});

test("user:password@ never reaches a message", () => {
  assert.equal(redactUrl("nats://a:b@h:1,tls://c:d@h2:2"), "nats://h:1,tls://h2:2");
  assert.equal(redactUrl("u:p@h:4222"), "h:4222");
  assert.equal(redactUrl("nats://h:4222"), "nats://h:4222");
});
