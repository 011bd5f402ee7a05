import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ErrorBody } from "../helpers/bodies.js";
import { spawnGateway, startTestGateway } from "../helpers/broker.js";
import { readJson } from "../helpers/http.js";
import { freePort } from "../helpers/nats.js";
import { useHarness } from "../helpers/stack.js";

/** The metric families a /metrics body declares. */
function families(text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1] as string).sort();
}

/** A listener that holds a port, as another program would. */
async function holdPort(port: number): Promise<Server> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(port, "127.0.0.1", resolve));
  return srv;
}

describe("gateway.metricsPort", () => {
  const harness = useHarness();

  test("a second listener serves the same /metrics, and nothing else", async () => {
    const metricsPort = await freePort();
    const gw = await harness.gateway(harness.config({
      gateway: { metricsPort, models: [{ id: "sim" }], cors: { origins: ["http://app.example"] } },
    }));
    assert.equal(gw.metricsUrl, `http://127.0.0.1:${metricsPort}`);
    const main = await fetch(`${gw.url}/metrics`);
    const side = await fetch(`${gw.metricsUrl}/metrics`);
    assert.equal(side.status, 200);
    assert.equal(side.headers.get("content-type"), main.headers.get("content-type"));
    const [mainText, sideText] = [await main.text(), await side.text()];
    assert.ok(families(sideText).includes("broker_jobs_in_flight"), sideText.slice(0, 500));
    assert.deepEqual(families(sideText), families(mainText), "one handler, one registry");

    const api = await fetch(`${gw.metricsUrl}/v1/models`, { headers: { origin: "http://app.example" } });
    assert.equal(api.status, 404, "the API is not on the metrics listener");
    assert.equal((await readJson<ErrorBody>(api)).error.code, "not_found");
    assert.equal(api.headers.get("access-control-allow-origin"), null, "nor are the API's hooks");
    assert.equal((await fetch(`${gw.metricsUrl}/admin/workers`)).status, 404);
    assert.equal((await fetch(`${gw.metricsUrl}/metrics`, { method: "POST", body: "{}" })).status, 404);
  });

  test("closing the gateway closes the metrics listener", async () => {
    const metricsPort = await freePort();
    const gw = await startTestGateway(harness.config({ gateway: { metricsPort } }));
    await gw.close();
    await assert.rejects(fetch(`http://127.0.0.1:${metricsPort}/metrics`));
    (await holdPort(metricsPort)).close();
  });

  test("a metrics port in use fails the start and leaves nothing listening", async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const held = await holdPort(metricsPort);
    harness.defer(() => new Promise((r) => held.close(r)));
    await assert.rejects(startTestGateway(harness.config({ gateway: { port, metricsPort } })), /EADDRINUSE/);
    // The API port that did listen was closed again.
    (await holdPort(port)).close();
  });

  test("`broker gateway` with a metrics port in use exits 1 with one line naming the address", async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const held = await holdPort(metricsPort);
    harness.defer(() => new Promise((r) => held.close(r)));
    const g = spawnGateway(harness.config({ gateway: { port, metricsPort } }));
    harness.defer(async () => g.child.kill("SIGKILL"));
    const code = await Promise.race([g.exited, sleep(15_000, "still running", { ref: false })]);
    assert.equal(code, 1, g.output());
    const lines = g.output().trim().split("\n").filter((l) => l.startsWith("broker:"));
    assert.equal(lines.length, 1, g.output());
    assert.match(lines[0] ?? "", new RegExp(`^broker: a port is already in use \\(.*127\\.0\\.0\\.1:${metricsPort}\\); pick others with .*gateway\\.metricsPort$`));
    assert.doesNotMatch(g.output(), /\n\s+at /, "no stack trace");
  });
});
