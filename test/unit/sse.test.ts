import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { startSse, writeSse } from "../../http/openai/sse.js";

/** A server that writes `events` SSE events of `size` bytes each, honouring backpressure. */
async function sseServer(events: number, size: number, onDone: (waits: number) => void): Promise<Server> {
  const server = createServer(async (_req, res) => {
    startSse(res, "req-1");
    let waits = 0;
    const event = `data: ${"x".repeat(size)}\n\n`;
    for (let i = 0; i < events && !res.destroyed; i++) {
      const w = writeSse(res, event);
      if (w) {
        waits++;
        await w;
      }
    }
    res.end();
    onDone(waits);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return server;
}

test("SSE headers, and every byte arrives when the client reads slowly (backpressure is waited out)", async () => {
  let waits = -1;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  const server = await sseServer(400, 32 * 1024, (w) => {
    waits = w;
    finish();
  });
  const { port } = server.address() as AddressInfo;
  const { headers, bytes } = await new Promise<{ headers: Record<string, unknown>; bytes: number }>((resolve, reject) => {
    request({ host: "127.0.0.1", port, path: "/" }, (res) => {
      let bytes = 0;
      res.on("data", (d: Buffer) => {
        bytes += d.length;
        // Read slowly so the server's socket buffer fills.
        res.pause();
        setTimeout(() => res.resume(), 1);
      });
      res.on("end", () => resolve({ headers: res.headers, bytes }));
    }).on("error", reject).end();
  });
  await finished;
  assert.equal(headers["content-type"], "text/event-stream; charset=utf-8");
  assert.equal(headers["x-request-id"], "req-1");
  assert.equal(headers["cache-control"], "no-cache");
  assert.equal(bytes, 400 * (32 * 1024 + 8));
  assert.ok(waits > 0, "the writer waited for 'drain' at least once");
  server.close();
});

test("a writer blocked on a client that goes away is released, not left hanging", async () => {
  let released: () => void = () => undefined;
  const done = new Promise<void>((r) => (released = r));
  const server = await sseServer(10_000, 64 * 1024, () => released());
  const { port } = server.address() as AddressInfo;
  const req = request({ host: "127.0.0.1", port, path: "/" }, (res) => {
    res.once("data", () => req.destroy()); // read one chunk, then vanish
  });
  req.end();
  await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error("writer still blocked after 5 s")), 5000))]);
  server.close();
});
