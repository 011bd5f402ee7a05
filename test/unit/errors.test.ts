import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { BrokerError, ErrorCodes, isErrorCode } from "../../contract/errors.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const readme = readFileSync(join(root, "README.md"), "utf8");

/** Every .ts file of the source folders, with its text. */
function sources(): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  for (const dir of ["contract", "nats", "jobs", "config", "ops", "core", "gateway", "http", "grpc", "workers", "scripts", "bench"]) {
    for (const f of readdirSync(join(root, dir), { recursive: true, encoding: "utf8" })) {
      if (f.endsWith(".ts") && !f.endsWith(".d.ts")) out.push({ file: join(dir, f), text: readFileSync(join(root, dir, f), "utf8") });
    }
  }
  return out;
}

test("every error code is documented in the README's table with its status", () => {
  for (const [code, { status }] of Object.entries(ErrorCodes)) {
    assert.match(readme, new RegExp(`\\| ${status} \\| \`${code}\` \\|`), `README documents ${code} as ${status}`);
  }
});

test("every code thrown in the source is in the table and the README; others come typed as ErrorCode", () => {
  const files = sources();
  assert.ok(files.some((f) => f.file === join("contract", "errors.ts")), `sources found under ${root}`);
  let literals = 0;
  for (const { file, text } of files) {
    for (const m of text.matchAll(/BrokerError\(\s*"([^"]*)"/g)) {
      const code = m[1] ?? "";
      literals++;
      assert.ok(isErrorCode(code), `${file}: BrokerError("${code}") is not in ErrorCodes`);
      assert.match(readme, new RegExp(`\\| \\d{3} \\| \`${code}\` \\|`), `${file}: ${code} is not in the README's error table`);
    }
    for (const m of text.matchAll(/new BrokerError\(\s*([A-Za-z_$][\w$]*)/g)) {
      // A variable or a call: its declaration must say ErrorCode (the compiler checks the rest).
      const name = m[1] ?? "";
      const typed = new RegExp(`\\b${name}\\??: ErrorCode\\b|function ${name}\\([^)]*\\): ErrorCode\\b`);
      assert.match(text, typed, `${file}: new BrokerError(${name}, …) takes a code not declared as ErrorCode`);
    }
  }
  assert.ok(literals > 50, `found ${literals} BrokerError codes`);
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
  const old = BrokerError.fromChunk({ status: 400, type: "invalid_request_error", code: "string_above_max_length", message: "too long" });
  assert.deepEqual([old.code, old.status, old.wireCode], ["invalid_request", 400, "string_above_max_length"]);
  // context_length_exceeded is the table's own now (the llama-cpp engine sends it): the same on the wire.
  const own = BrokerError.fromChunk(new BrokerError("context_length_exceeded", "too long", { param: "messages" }).toChunk());
  assert.deepEqual([own.code, own.status, own.type, own.wireCode, own.param], ["context_length_exceeded", 400, "invalid_request_error", "context_length_exceeded", "messages"]);
  const cancel = BrokerError.fromChunk({ status: 500, type: "server_error", code: "", message: "cancelled" });
  assert.deepEqual([cancel.code, cancel.status, cancel.upstreamCode], ["internal_error", 500, null]);
});

test("cancelled is 499", () => {
  assert.equal(new BrokerError("cancelled", "gone").status, 499);
});
