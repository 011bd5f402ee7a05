import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { BrokerError, ErrorCodes } from "../../broker/errors.js";

test("every error code is documented in the README's table with its status", () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
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
