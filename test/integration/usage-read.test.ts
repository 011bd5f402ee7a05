import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Config } from "../../config/config.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { scrape } from "../helpers/metrics.js";
import { useHarness } from "../helpers/stack.js";

const CLI = fileURLToPath(new URL("../../scripts/broker.js", import.meta.url));
const run = promisify(execFile);

interface UsageJson {
  object: string;
  data: { day: string; key_id: string; key_name: string; model: string; requests: number; prompt_tokens: number; completion_tokens: number; total_tokens: number; errors: Record<string, number> }[];
}

/** `broker usage` on the config's NATS and prefix, as an operator runs it. */
async function cli(cfg: Config, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, NATS_URL: cfg.nats.url, BROKER_PREFIX: cfg.nats.prefix, BROKER_CONFIG: "" };
  try {
    const r = await run(process.execPath, [CLI, "usage", ...args], { env, timeout: 20_000 });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

// The read paths: GET /admin/usage on any gateway, and `broker usage`.
describe("usage read paths", () => {
  const harness = useHarness();
  let cfg: Config;
  let gw: GatewayHandle;
  let day: string;

  test("GET /admin/usage: what any gateway recorded, as JSON or CSV, filtered", async () => {
    cfg = harness.config();
    gw = await harness.gateway(cfg);
    const other = await harness.gateway(cfg);
    gw.usage.record({ keyId: "k1", keyName: "alice", model: "org/m:q4", promptTokens: 10, completionTokens: 5 });
    gw.usage.record({ keyId: "k1", keyName: "alice", model: "org/m:q4", promptTokens: 4, completionTokens: 0, errorCode: "timeout" });
    other.usage.record({ keyId: "-", keyName: "anonymous", model: "org/m:q4", promptTokens: 2, completionTokens: 1 });
    await Promise.all([gw.usage.flush(), other.usage.flush()]);

    const res = await fetch(`${gw.url}/admin/usage`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as UsageJson;
    day = body.data[0]?.day ?? "";
    assert.match(day, /^\d{4}-\d{2}-\d{2}$/);
    assert.deepEqual(body, {
      object: "list",
      data: [
        { day, key_id: "k1", key_name: "alice", model: "org/m:q4", requests: 2, prompt_tokens: 14, completion_tokens: 5, total_tokens: 19, errors: { timeout: 1 } },
        { day, key_id: "-", key_name: "anonymous", model: "org/m:q4", requests: 1, prompt_tokens: 2, completion_tokens: 1, total_tokens: 3, errors: {} },
      ],
    });
    assert.deepEqual(await (await fetch(`${other.url}/admin/usage`)).json(), body, "every gateway answers the same");

    const csv = [
      "day,key_id,key_name,model,requests,prompt_tokens,completion_tokens,total_tokens,errors",
      `${day},k1,alice,org/m:q4,2,14,5,19,timeout:1`,
      `${day},-,anonymous,org/m:q4,1,2,1,3,`,
      "",
    ].join("\r\n");
    const asCsv = await fetch(`${gw.url}/admin/usage?format=csv`);
    assert.match(asCsv.headers.get("content-type") ?? "", /^text\/csv/);
    assert.equal(await asCsv.text(), csv);
    const accepted = await fetch(`${gw.url}/admin/usage`, { headers: { accept: "text/csv" } });
    assert.match(accepted.headers.get("content-type") ?? "", /^text\/csv/);
    assert.equal(await accepted.text(), csv);

    const q = async (qs: string) => ((await (await fetch(`${gw.url}/admin/usage?${qs}`)).json()) as UsageJson).data.map((r) => r.key_name);
    assert.deepEqual(await q("key=anonymous"), ["anonymous"]);
    assert.deepEqual(await q("key=k1"), ["alice"]);
    assert.deepEqual(await q(`from=${day}&to=${day}&model=${encodeURIComponent("org/m:q4")}`), ["alice", "anonymous"]);
    assert.deepEqual(await q("model=other"), []);
    assert.deepEqual(await q("from=2000-01-01&to=2000-01-02"), []);
  });

  test("GET /admin/usage: a bad parameter is a 400 that names it", async () => {
    for (const [qs, param] of [["from=2026-02-30", "from"], ["to=yesterday", "to"], ["from=2026-03-02&to=2026-03-01", "to"], ["format=xml", "format"], ["from=2026-03-01&from=2026-03-02", "from"]] as const) {
      const res = await fetch(`${gw.url}/admin/usage?${qs}`);
      assert.equal(res.status, 400, qs);
      const { error } = (await res.json()) as { error: { code: string; type: string; param: string } };
      assert.deepEqual([error.code, error.type, error.param], ["invalid_request", "invalid_request_error", param], qs);
    }
  });

  test("per-key metrics on /metrics, by key name", async () => {
    const m = `${gw.url}/metrics`;
    assert.equal(await scrape(m, "broker_key_requests_total", { key: "alice", model: "org/m:q4", code: "ok" }), 1);
    assert.equal(await scrape(m, "broker_key_requests_total", { key: "alice", model: "org/m:q4", code: "timeout" }), 1);
    assert.equal(await scrape(m, "broker_key_tokens_total", { key: "alice", model: "org/m:q4", kind: "prompt" }), 14);
    assert.equal(await scrape(m, "broker_key_tokens_total", { key: "alice", model: "org/m:q4", kind: "completion" }), 5);
  });

  test("broker usage prints a table or the same CSV, filtered", async () => {
    const table = await cli(cfg);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^DAY\s+KEY\s+MODEL\s+REQUESTS\s+PROMPT\s+COMPLETION\s+TOTAL\s+ERRORS$/);
    assert.match(lines[1] ?? "", new RegExp(`^${day}\\s+alice\\s+org/m:q4\\s+2\\s+14\\s+5\\s+19\\s+timeout:1$`));
    assert.match(lines[2] ?? "", new RegExp(`^${day}\\s+anonymous\\s+org/m:q4\\s+1\\s+2\\s+1\\s+3$`));
    assert.match(lines[3] ?? "", /^total\s+3\s+16\s+6\s+22$/);
    assert.equal(lines.length, 4);

    const csv = await cli(cfg, "--csv", "--key", "alice", "--from", day);
    assert.equal(csv.code, 0, csv.stderr);
    assert.equal(csv.stdout, await (await fetch(`${gw.url}/admin/usage?format=csv&key=alice&from=${day}`)).text());
    assert.equal(csv.stdout.split("\r\n").length, 3);

    const none = await cli(cfg, "--model", "nope");
    assert.deepEqual([none.code, none.stdout], [0, "no usage recorded for this filter\n"]);
    const bad = await cli(cfg, "--from", "2026-02-30");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--from: expected a day as YYYY-MM-DD/);
  });
});
