import assert from "node:assert/strict";
import { test } from "node:test";
import { type Lookup, type LimitScope, type Permit, type UsageEvent } from "../../access/mod.js";
import { compile } from "../../access/principal.js";
import { BrokerError, Lane, modelToken } from "../../contract/mod.js";
import { Guard, type Ticket } from "../../core/mod.js";
import { KeyRecord } from "../../access/keys.js";

const record = (over: Partial<KeyRecord> = {}): KeyRecord => KeyRecord.parse({
  id: "abcdef123456", name: "team-a", hash: "0".repeat(64), hint: "sk-brk-xxxx…", models: ["llama-*", "openai/*"], maxPriority: "normal",
  perModel: [{ models: "openai/*", rpm: 5 }], rpm: 100, createdAt: new Date(0).toISOString(), ...over,
});

function guardWith(r: KeyRecord, state: Lookup["state"] = "ok") {
  const scopes: LimitScope[][] = [];
  const usage: UsageEvent[] = [];
  const ended: unknown[] = [];
  const permit: Permit = { view: { limitRequests: 100, remainingRequests: 99, resetRequestsMs: 600 }, end: (u) => void ended.push(u) };
  const guard = new Guard({
    upstreamKeyHeader: "x-upstream-authorization",
    keys: { lookup: (secret: string): Lookup => (secret === "good" ? (state === "unknown" ? { state } : { state, principal: compile(r) }) : { state: "unknown" }) },
    limits: { admit: (s: LimitScope[]) => (scopes.push(s), permit), peek: () => ({ limitRequests: 100, remainingRequests: 0 }) },
    usage: { record: (e: UsageEvent) => void usage.push(e) },
    adminKey: "the-admin-key",
  });
  return { guard, scopes, usage, ended };
}

test("a key's scopes: the key's own limits, and key × model where a per-model entry matches", async () => {
  const { guard, scopes } = guardWith(record());
  const caller = guard.caller("good");
  await guard.enter(caller, "llama-3", Lane.normal, () => 10);
  await guard.enter(caller, "openai/gpt-4o", Lane.normal, () => 10);
  assert.deepEqual(scopes[0]?.map((s) => s.id), ["abcdef123456"]);
  assert.deepEqual(scopes[1]?.map((s) => [s.id, s.limits.rpm]), [["abcdef123456", 100], [`abcdef123456.m.${modelToken("openai/gpt-4o")}`, 5]]);
  assert.match(scopes[1]?.[1]?.label ?? "", /key team-a on model openai\/gpt-4o/);
});

test("a key without limits costs the limiter nothing", async () => {
  const { guard, scopes } = guardWith(record({ rpm: undefined, perModel: [] }));
  let estimated = 0;
  const t = (await guard.enter(guard.caller("good"), "llama-3", Lane.normal, () => ++estimated)) as Ticket;
  assert.equal(scopes.length, 0);
  assert.equal(estimated, 0, "the prompt is not even measured");
  assert.equal(t.view, undefined);
});

test("401s: no key, unknown, revoked, expired — each saying which, none echoing the key", () => {
  const refusal = (f: () => unknown): BrokerError => {
    try {
      f();
    } catch (e) {
      if (e instanceof BrokerError) return e;
    }
    throw new Error("no refusal");
  };
  const g = guardWith(record()).guard;
  assert.match(refusal(() => g.caller(undefined)).message, /didn't provide an API key/);
  assert.match(refusal(() => g.caller("bad-secret-value")).message, /^Incorrect API key provided\./);
  assert.ok(!refusal(() => g.caller("bad-secret-value")).message.includes("bad-secret-value"));
  assert.match(refusal(() => guardWith(record({ revokedAt: "2026-01-01T00:00:00.000Z" }), "revoked").guard.caller("good")).message, /revoked at 2026-01-01/);
  assert.match(refusal(() => guardWith(record({ expiresAt: "2026-01-01T00:00:00.000Z" }), "expired").guard.caller("good")).message, /expired at 2026-01-01/);
  for (const e of [refusal(() => g.caller(undefined)), refusal(() => g.caller("x"))]) assert.deepEqual([e.status, e.code, e.type], [401, "invalid_api_key", "invalid_request_error"]);
});

test("priority above the key's cap is 403 and is counted as the key's error", async () => {
  const { guard, usage } = guardWith(record({ maxPriority: "low" }));
  const caller = guard.caller("good");
  await assert.rejects(async () => guard.enter(caller, "llama-3", Lane.normal, () => 1), (e: unknown) => e instanceof BrokerError && e.status === 403 && e.code === "priority_not_allowed");
  assert.deepEqual(usage.map((u) => [u.keyName, u.model, u.errorCode]), [["team-a", "llama-3", "priority_not_allowed"]]);
});

test("a ticket ends once: real usage to the limiter and the ledger", async () => {
  const { guard, usage, ended } = guardWith(record());
  const t = await guard.enter(guard.caller("good"), "llama-3", Lane.normal, () => 10);
  t.end({ usage: { promptTokens: 7, completionTokens: 3 } });
  t.end(undefined, new Error("late"));
  assert.deepEqual(ended, [{ promptTokens: 7, completionTokens: 3 }]);
  assert.deepEqual(usage.map((u) => [u.promptTokens, u.completionTokens, u.errorCode]), [[7, 3, undefined]]);
});

test("the admin key: required with auth on, compared whole", () => {
  const { guard } = guardWith(record());
  assert.doesNotThrow(() => guard.admin("the-admin-key"));
  for (const k of [undefined, "the-admin-key-x", "the-admin-ke", "good"]) assert.throws(() => guard.admin(k), (e: unknown) => e instanceof BrokerError && e.status === 401);
  const open = new Guard({ upstreamKeyHeader: "x" });
  assert.doesNotThrow(() => open.admin(undefined));
  assert.equal(open.caller("anything").keyName, "anonymous");
});
