import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Config } from "../../config/config.js";
import type { ErrorBody } from "../helpers/bodies.js";
import { spawnGateway, waitFor, type WorkerProcess } from "../helpers/broker.js";
import { postJson, readJson } from "../helpers/http.js";
import { freePort } from "../helpers/nats.js";
import { useHarness } from "../helpers/stack.js";

// Two real gateway processes share each key's limits through NATS KV alone.
const RPM_KEY = "sk-brk-limits-test-rpm-000000000000000000000";
const CONC_KEY = "sk-brk-limits-test-concurrency-0000000000000";
const RPM = 60;
const MAX_CONCURRENT = 3;

const ask = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: "user", content: "hi" }], ...extra });
const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

describe("limits across two gateway processes", () => {
  const h = useHarness();
  let cfg: Config;
  const urls: string[] = [];
  const gateways: WorkerProcess[] = [];

  async function startGatewayProc(): Promise<{ url: string; proc: WorkerProcess }> {
    const port = await freePort();
    const proc = spawnGateway({ ...cfg, gateway: { ...cfg.gateway, port } });
    h.defer(async () => {
      proc.child.kill("SIGKILL");
      await proc.exited;
    });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => {
      const res = await fetch(`${url}/v1/models`, { headers: bearer(RPM_KEY) }).catch(() => undefined);
      return res?.ok && (await res.text()).includes('"fast"');
    }, `gateway on ${port}`, 20_000);
    return { url, proc };
  }

  test("set-up: sim workers and two gateways with auth on and keys with limits", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limits-"));
    const keysFile = join(dir, "keys.json");
    writeFileSync(keysFile, JSON.stringify({
      keys: [
        { name: "rpm-key", key: RPM_KEY, rpm: RPM },
        { name: "conc-key", key: CONC_KEY, maxConcurrent: MAX_CONCURRENT },
      ],
    }));
    cfg = h.config({
      gateway: { auth: { enabled: true, keysFile } },
      workers: [{ name: "sim", slots: 16, models: [{ id: "fast", engine: "sim", options: { outputTokens: 1 } }, { id: "slow", engine: "sim", options: { outputTokens: 30, itlMs: 100 } }] }],
    });
    h.worker(cfg, "sim");
    for (let i = 0; i < 2; i++) {
      const g = await startGatewayProc();
      urls.push(g.url);
      gateways.push(g.proc);
    }
  });

  test(`rpm ${RPM}: a minute of saturating load split at random over both gateways gets ${RPM} successes (overshoot 0, undershoot ≤ 2)`, async () => {
    const until = Date.now() + 60_000;
    let ok = 0;
    let refused = 0;
    let other = 0;
    let firstHeaders: Headers | undefined;
    let retryAfter = "";
    let refusedHeaders: Headers | undefined;
    // Eight loops, each at most ~20 attempts/s: demand is far over 60/min, and the machine is not flooded.
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (Date.now() < until) {
        const url = urls[Math.floor(Math.random() * urls.length)] as string;
        const res = await postJson(`${url}/v1/chat/completions`, ask("fast"), bearer(RPM_KEY));
        await res.arrayBuffer();
        if (res.status === 200) {
          ok++;
          firstHeaders ??= res.headers;
        } else if (res.status === 429) {
          refused++;
          retryAfter ||= res.headers.get("retry-after") ?? "";
          refusedHeaders ??= res.headers;
        } else other++;
        await new Promise((r) => setTimeout(r, 50));
      }
    }));
    const rl = (h: Headers | undefined): string => ["limit", "remaining", "reset"].map((k) => h?.get(`x-ratelimit-${k}-requests`)).join("/");
    console.log(`rpm ${RPM} over two gateways, 60 s: ${ok} ok, ${refused} refused (429), ${other} other; x-ratelimit on the first 200 ${rl(firstHeaders)}, on the first 429 ${rl(refusedHeaders)}, retry-after ${retryAfter}`);
    assert.equal(other, 0);
    assert.ok(ok <= RPM, `at most ${RPM} (got ${ok})`);
    assert.ok(ok >= RPM - 2, `at least ${RPM - 2} (got ${ok})`);
    assert.ok(refused > 100, "the load was saturating");
    assert.ok(Number(retryAfter) >= 1, "429s carry Retry-After");
    assert.equal(firstHeaders?.get("x-ratelimit-limit-requests"), String(RPM));
    assert.match(firstHeaders?.get("x-ratelimit-remaining-requests") ?? "", /^\d+$/);
    assert.match(firstHeaders?.get("x-ratelimit-reset-requests") ?? "", /^\d+(\.\d+)?m?s$|^\d+m[\d.]+s$/);
    // A refusal carries the same figures (remaining as its gateway sees them: the other may hold a lease).
    assert.equal(refusedHeaders?.get("x-ratelimit-limit-requests"), String(RPM));
    assert.ok(Number(refusedHeaders?.get("x-ratelimit-remaining-requests")) < RPM / 2, "remaining is low on a refusal");
  });

  test(`maxConcurrent ${MAX_CONCURRENT} holds across both gateways; a gateway killed with -9 gives its slots back within the TTL`, async () => {
    const open = (url: string) => fetch(`${url}/v1/chat/completions`, {
      method: "POST", headers: { "content-type": "application/json", ...bearer(CONC_KEY) }, body: JSON.stringify(ask("slow", { stream: true })),
    });
    // Six slow streams at once, three on each gateway: exactly three get in.
    const first = await Promise.all(Array.from({ length: 6 }, (_, i) => open(urls[i % 2] as string)));
    const admitted = first.filter((r) => r.status === 200);
    const refused = first.filter((r) => r.status === 429);
    assert.equal(admitted.length, MAX_CONCURRENT, `statuses ${first.map((r) => r.status).join(",")}`);
    assert.equal(refused.length, 6 - MAX_CONCURRENT);
    assert.equal((await readJson<ErrorBody>(refused[0] as Response)).error.code, "rate_limit_exceeded");
    await Promise.all(first.map((r) => (r.bodyUsed ? undefined : r.body?.cancel())));
    // Cancelled streams give their slots back: three fit again.
    await waitFor(async () => {
      const again = await Promise.all(Array.from({ length: MAX_CONCURRENT }, (_, i) => open(urls[i % 2] as string)));
      await Promise.all(again.map((r) => r.body?.cancel()));
      return again.every((r) => r.status === 200);
    }, "the slots to come back", 15_000);

    // Gateway 0 holds all three, then dies by SIGKILL: gateway 1 gets them once the holds lapse.
    // (The last round's slots go back as their cancels land: retried until all three fit on gateway 0.)
    await waitFor(async () => {
      const held = await Promise.all(Array.from({ length: MAX_CONCURRENT }, () => open(urls[0] as string)));
      if (held.every((r) => r.status === 200)) return true;
      await Promise.all(held.map((r) => r.body?.cancel()));
      return false;
    }, "three slots held on gateway 0", 15_000);
    const blocked = await postJson(`${urls[1]}/v1/chat/completions`, ask("fast"), bearer(CONC_KEY));
    assert.equal(blocked.status, 429);
    const killedAt = Date.now();
    gateways[0]?.child.kill("SIGKILL");
    await waitFor(async () => (await postJson(`${urls[1]}/v1/chat/completions`, ask("fast"), bearer(CONC_KEY))).status === 200, "the dead gateway's slots", 30_000);
    const tookMs = Date.now() - killedAt;
    console.log(`maxConcurrent: a gateway killed with -9 gave its slots back after ${tookMs} ms`);
    assert.ok(tookMs < 15_000, `within the 10 s TTL and a renewal (took ${tookMs} ms)`);
  });
});
