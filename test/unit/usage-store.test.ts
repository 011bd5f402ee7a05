import assert from "node:assert/strict";
import { test } from "node:test";
import { usageCsv, type UsageRow } from "../../access/usage.js";
import { applied, daysBetween, kvToken, merge, UsageDay, type UsageDelta } from "../../access/usage-store.js";

// What the KV client accepts for one token of a key (no dots, no wildcards).
const TOKEN = /^[-/_=a-zA-Z0-9]+$/;

test("model ids become one KV key token each, never the same for two ids", () => {
  const ids = ["org/model:q4", "a.b", "a_2Eb", "a_b", "*", ">", "", "llama 3", "modèle", "x".repeat(500), `${"x".repeat(499)}y`];
  const tokens = ids.map(kvToken);
  for (const t of tokens) assert.match(t, TOKEN);
  for (const t of tokens) assert.ok(t.length <= 160, `${t.length} characters`);
  assert.equal(new Set(tokens).size, ids.length);
  assert.equal(kvToken("org/model:q4"), "org_2Fmodel_3Aq4");
  assert.equal(kvToken("plain-id-7"), "plain-id-7");
});

test("days are real calendar days; ranges list their days up to a bound", () => {
  for (const ok of ["2026-03-01", "2024-02-29"]) assert.ok(UsageDay.safeParse(ok).success, ok);
  for (const bad of ["2026-02-30", "2025-02-29", "2026-13-01", "2026-3-1", "yesterday", "2026-03-01T00:00:00Z"]) assert.ok(!UsageDay.safeParse(bad).success, bad);
  assert.deepEqual(daysBetween("2026-02-27", "2026-03-02", 31), ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]);
  assert.deepEqual(daysBetween("2026-03-02", "2026-03-01", 31), []);
  assert.equal(daysBetween("2026-01-01", "2026-03-01", 31), undefined);
});

const delta = (requests: number, errors: [string, number][] = []): UsageDelta =>
  ({ day: "2026-03-01", keyId: "k1", keyName: "alice", model: "m", requests, promptTokens: requests * 10, completionTokens: requests, errors: new Map(errors) });

test("merging adds up counts and error codes, and marks the writer's batch", () => {
  const one = merge(undefined, delta(2, [["timeout", 1]]), "ledgerA", 1, 1000);
  const two = merge(one, delta(3, [["timeout", 2], ["__proto__", 1]]), "ledgerB", 7, 2000);
  assert.equal(two.requests, 5);
  assert.equal(two.promptTokens, 50);
  assert.deepEqual(Object.entries(two.errors), [["timeout", 3], ["__proto__", 1]]);
  assert.ok(applied(two, "ledgerA", 1) && applied(two, "ledgerB", 7));
  assert.ok(!applied(two, "ledgerB", 8) && !applied(two, "ledgerC", 1));
});

test("an entry keeps the markers of the 32 writers seen last", () => {
  let v = merge(undefined, delta(1), "w0", 1, 0);
  for (let i = 1; i < 40; i++) v = merge(v, delta(1), `w${i}`, 1, i);
  assert.equal(Object.keys(v.w).length, 32);
  assert.ok(applied(v, "w39", 1) && applied(v, "w8", 1) && !applied(v, "w7", 1));
  assert.equal(v.requests, 40);
});

test("CSV: a header, one line per row, quoted where needed, errors in one column", () => {
  const rows: UsageRow[] = [
    { day: "2026-03-01", keyId: "k1", keyName: "alice", model: "org/m:q4", requests: 3, promptTokens: 30, completionTokens: 6, errors: { timeout: 1, upstream_error: 2 } },
    { day: "2026-03-01", keyId: "-", keyName: "anonymous", model: 'odd,"model"', requests: 1, promptTokens: 0, completionTokens: 0, errors: {} },
  ];
  assert.equal(usageCsv(rows), [
    "day,key_id,key_name,model,requests,prompt_tokens,completion_tokens,total_tokens,errors",
    "2026-03-01,k1,alice,org/m:q4,3,30,6,36,timeout:1;upstream_error:2",
    '2026-03-01,-,anonymous,"odd,""model""",1,0,0,0,',
    "",
  ].join("\r\n"));
  assert.equal(usageCsv([]), "day,key_id,key_name,model,requests,prompt_tokens,completion_tokens,total_tokens,errors\r\n");
});
