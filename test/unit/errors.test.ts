import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { BrokerError, ErrorCodes } from "../../broker/errors.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const readme = readFileSync(join(root, "README.md"), "utf8");

test("every error code is documented in the README's table with its status", () => {
  for (const [code, { status }] of Object.entries(ErrorCodes)) {
    assert.match(readme, new RegExp(`\\| ${status} \\| \`${code}\` \\|`), `README documents ${code} as ${status}`);
  }
});

test("a BrokerError survives the trip through an error chunk", () => {
  const e = new BrokerError("upstream_rate_limited", "slow down", { retryAfterS: 7, param: "model" });
  const back = BrokerError.fromChunk(e.toChunk());
  assert.deepEqual(back.toJSON(), e.toJSON());
  assert.equal(back.status, 429);
  assert.equal(back.retryAfterS, 7);
  assert.equal(back.type, "rate_limit_error");
});

test("an upstream's own code and type are what the client sees, and survive the chunk", () => {
  const e = new BrokerError("invalid_request", "too long", { upstreamCode: "context_length_exceeded", param: "messages" });
  assert.deepEqual(e.toJSON(), { error: { message: "too long", type: "invalid_request_error", param: "messages", code: "context_length_exceeded" } });
  assert.equal(e.code, "invalid_request");
  const back = BrokerError.fromChunk(e.toChunk());
  assert.deepEqual([back.code, back.upstreamCode, back.status], ["invalid_request", "context_length_exceeded", 400]);
  assert.deepEqual(back.toJSON(), e.toJSON());

  const typed = BrokerError.fromChunk(new BrokerError("upstream_rate_limited", "x", { upstreamType: "requests" }).toChunk());
  assert.deepEqual([typed.type, typed.wireCode], ["requests", "upstream_rate_limited"]);
});

test("a chunk from a worker before the closed table: its code is kept as the upstream's", () => {
  const old = BrokerError.fromChunk({ status: 400, type: "invalid_request_error", code: "context_length_exceeded", message: "too long" });
  assert.deepEqual([old.code, old.status, old.wireCode], ["invalid_request", 400, "context_length_exceeded"]);
  const cancel = BrokerError.fromChunk({ status: 500, type: "server_error", code: "", message: "cancelled" });
  assert.deepEqual([cancel.code, cancel.status, cancel.upstreamCode], ["internal_error", 500, null]);
});

test("cancelled is 499", () => {
  assert.equal(new BrokerError("cancelled", "gone").status, 499);
});
