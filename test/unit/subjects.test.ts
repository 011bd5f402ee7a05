import assert from "node:assert/strict";
import { test } from "node:test";
import { modelFromToken, modelToken, subjects } from "../../contract/subjects.js";

const TOKEN = /^[a-z0-9_-]+$/;

test("model ids round-trip through a safe subject token", () => {
  const ids = [
    "sim", "gpt-4o", "meta-llama/Llama-3.1-8B-Instruct", "qwen2.5:7b", "org/model:tag@v1.2",
    "UPPER", "ünïcødé-модель", "with space", "dots.and.more", "a*b>c", "_underscore_", "%2F", "emoji-🦙", "--",
  ];
  for (const id of ids) {
    const t = modelToken(id);
    assert.match(t, TOKEN, `${id} → ${t}`);
    assert.ok(t.length <= 120, `${id} token length`);
    assert.equal(modelFromToken(t), id, `round trip of ${id}`);
  }
});

test("distinct ids never share a token, case included", () => {
  const ids = ["Model", "model", "MODEL", "a/b", "a_2fb", "a.b", "a-b", "a_b"];
  const tokens = new Set(ids.map(modelToken));
  assert.equal(tokens.size, ids.length);
});

test("very long ids are shortened with a hash and stay unique", () => {
  const a = "x".repeat(300);
  const b = `${"x".repeat(299)}y`;
  assert.ok(modelToken(a).length <= 120);
  assert.notEqual(modelToken(a), modelToken(b));
  assert.match(modelToken(a), TOKEN);
  assert.equal(modelFromToken(modelToken(a)), null);
});

test("tokens that were never produced are refused", () => {
  assert.equal(modelFromToken("_zz"), null);
  assert.equal(modelFromToken("A"), null);
  assert.equal(modelFromToken("_4"), null);
});

test("subjects and names derive from the prefix", () => {
  const s = subjects("infer");
  assert.equal(s.stream, "INFER_JOBS");
  assert.equal(s.job("org/m"), "infer.jobs.org_2fm.normal");
  assert.equal(s.consumer("org/m"), "w_org_2fm_normal");
  assert.equal(s.reply("gw1", "job1"), "infer.out.gw1.job1");
  assert.equal(subjects("my-app").stream, "MY_APP_JOBS");
});
