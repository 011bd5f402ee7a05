import { createServer, type Server } from "node:http";
import type { WorkerMetrics } from "../ops/mod.js";

/** Serves a worker's Prometheus metrics on GET /metrics; the worker needs no other inbound port. */
export async function serveWorkerMetrics(metrics: WorkerMetrics, host: string, port: number, refresh: () => void): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    refresh();
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return server;
}
