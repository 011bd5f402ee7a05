import assert from "node:assert/strict";
import { test } from "node:test";
import { GatewayMetrics } from "../../ops/metrics.js";
import { sample } from "../helpers/metrics.js";

test("key usage metrics: requests by code and tokens by kind, labelled by the key's name", async () => {
  const m = new GatewayMetrics();
  m.countKeyUsage({ keyName: "alice", model: "m", promptTokens: 10, completionTokens: 4 });
  m.countKeyUsage({ keyName: "alice", model: "m", promptTokens: 5, completionTokens: 0 });
  m.countKeyUsage({ keyName: "alice", model: "m", promptTokens: 7, completionTokens: 0, errorCode: "timeout" });
  m.countKeyUsage({ keyName: "bob", model: "m", promptTokens: Number.NaN, completionTokens: -1 });
  const text = await m.registry.metrics();
  assert.equal(sample(text, "broker_key_requests_total", { key: "alice", model: "m", code: "ok" }), 2);
  assert.equal(sample(text, "broker_key_requests_total", { key: "alice", model: "m", code: "timeout" }), 1);
  assert.equal(sample(text, "broker_key_tokens_total", { key: "alice", model: "m", kind: "prompt" }), 22);
  assert.equal(sample(text, "broker_key_tokens_total", { key: "alice", model: "m", kind: "completion" }), 4);
  assert.equal(sample(text, "broker_key_requests_total", { key: "bob", model: "m", code: "ok" }), 1);
  assert.equal(sample(text, "broker_key_tokens_total", { key: "bob", model: "m", kind: "prompt" }), 0);
});
