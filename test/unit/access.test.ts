import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { authEnabled, isLoopback, openAccessNotice } from "../../config/access.js";
import { applyFlags, ConfigError, loadConfig, parseConfig } from "../../config/config.js";

const gateway = (g: Record<string, unknown>) => parseConfig({ gateway: g });

test("isLoopback: 127.0.0.0/8, ::1 and localhost, bracketed or not; nothing else", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]", "::ffff:127.0.0.1"]) assert.ok(isLoopback(h), h);
  for (const h of ["0.0.0.0", "::", "[::]", "10.0.0.5", "192.168.1.2", "128.0.0.1", "1127.0.0.1", "127.0.0.1.evil.example", "localhost.example", "example.com", ""]) {
    assert.ok(!isLoopback(h), h);
  }
});

test("authEnabled: auto is on exactly beyond loopback; true and false are as written", () => {
  assert.equal(authEnabled(gateway({})), false, "the default: auto on 127.0.0.1");
  assert.equal(authEnabled(gateway({ host: "::1" })), false);
  assert.equal(authEnabled(gateway({ host: "0.0.0.0" })), true);
  assert.equal(authEnabled(gateway({ host: "10.1.2.3", auth: { enabled: "auto" } })), true);
  assert.equal(authEnabled(gateway({ auth: { enabled: true } })), true, "on, on loopback too");
  assert.equal(authEnabled(gateway({ host: "0.0.0.0", auth: { enabled: false }, allowUnauthenticated: true })), false);
});

test("auth off beyond loopback stops at parse time unless gateway.allowUnauthenticated", () => {
  assert.throws(() => gateway({ host: "0.0.0.0", auth: { enabled: false } }),
    (e: Error) => e instanceof ConfigError && /gateway\.auth\.enabled/.test(e.message) && /gateway\.allowUnauthenticated/.test(e.message) && /0\.0\.0\.0/.test(e.message));
  assert.equal(gateway({ host: "0.0.0.0", auth: { enabled: false }, allowUnauthenticated: true }).gateway.host, "0.0.0.0");
  // Auth off on loopback needs no opt-in; auth on anywhere needs none.
  gateway({ auth: { enabled: false } });
  gateway({ host: "0.0.0.0" });
});

test("CORS \"*\" only while auth is off on loopback; a list of origins anywhere", () => {
  assert.deepEqual(gateway({ cors: { origins: "*" } }).gateway.cors.origins, "*");
  assert.throws(() => gateway({ cors: { origins: "*" }, auth: { enabled: true } }), /gateway\.cors\.origins/);
  assert.throws(() => gateway({ cors: { origins: "*" }, host: "0.0.0.0" }), /gateway\.cors\.origins/);
  assert.throws(() => gateway({ cors: { origins: "*" }, host: "0.0.0.0", auth: { enabled: false }, allowUnauthenticated: true }), /gateway\.cors\.origins/);
  assert.deepEqual(gateway({ cors: { origins: ["https://app.example"] }, host: "0.0.0.0" }).gateway.cors.origins, ["https://app.example"]);
  assert.deepEqual(gateway({}).gateway.cors.origins, [], "off by default");
});

test("both safe-defaults problems are named at once", () => {
  assert.throws(() => gateway({ host: "0.0.0.0", auth: { enabled: false }, cors: { origins: "*" } }),
    (e: Error) => /gateway\.auth\.enabled/.test(e.message) && /gateway\.cors\.origins/.test(e.message));
});

test("--no-auth (applyFlags) turns auth off before the checks, which still guard beyond loopback", () => {
  const raw = { gateway: { host: "127.0.0.1", auth: { enabled: true } } };
  const off = applyFlags(raw, { noAuth: true });
  assert.equal(authEnabled(parseConfig(off)), false);
  assert.equal(raw.gateway.auth.enabled, true, "the input is not changed");
  assert.equal(authEnabled(parseConfig(applyFlags({}, { noAuth: true }))), false, "sections are made when absent");
  assert.deepEqual(applyFlags(raw, {}), raw);
  assert.throws(() => parseConfig(applyFlags({ gateway: { host: "0.0.0.0" } }, { noAuth: true })), /gateway\.allowUnauthenticated/);

  const dir = mkdtempSync(join(tmpdir(), "cfg-"));
  writeFileSync(join(dir, "a.yaml"), "gateway:\n  auth:\n    enabled: true\n");
  assert.equal(authEnabled(loadConfig(join(dir, "a.yaml"), {}, { noAuth: true })), false);
  assert.throws(() => loadConfig(join(dir, "a.yaml"), { HOST: "0.0.0.0" }, { noAuth: true }), /gateway\.allowUnauthenticated/, "HOST from the env counts");
});

test("openAccessNotice: one line while auth is off, none while it is on", () => {
  const url = "http://127.0.0.1:8080";
  const auto = openAccessNotice(gateway({}), url);
  assert.equal(auto, "auth is off: anyone on this machine can call the gateway at http://127.0.0.1:8080 (listen beyond loopback, or set gateway.auth.enabled: true, to require keys)");
  assert.match(openAccessNotice(gateway({ auth: { enabled: false } }), url) ?? "", /drop --no-auth/);
  assert.match(openAccessNotice(gateway({ cors: { origins: "*" } }), url) ?? "", /any web page/);
  const open = openAccessNotice(gateway({ host: "0.0.0.0", auth: { enabled: false }, allowUnauthenticated: true }), "http://0.0.0.0:8080");
  assert.match(open ?? "", /beyond loopback.*allowUnauthenticated.*0\.0\.0\.0:8080/);
  assert.equal(openAccessNotice(gateway({ host: "0.0.0.0" }), url), undefined);
  assert.equal(openAccessNotice(gateway({ auth: { enabled: true } }), url), undefined);
  for (const n of [auto, open]) assert.ok(!n?.includes("\n"), "one line");
});
