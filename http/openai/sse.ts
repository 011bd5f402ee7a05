// Server-sent events on the raw Node response, after fastify's reply.hijack():
// fastify's hooks and reply.header() no longer apply, so headers are set here.
import type { ServerResponse } from "node:http";

/** Headers as Fastify's reply.getHeaders() gives them. */
export type HeldHeaders = Readonly<Record<string, number | string | readonly string[] | undefined>>;

/**
 * Writes the SSE status and headers. Call it once the first chunk is in, so
 * an error before the first token is still an ordinary HTTP error; the
 * headers go out with the first event rather than in a packet of their own.
 * `held` are the headers hooks set on the Fastify reply before the hijack
 * (CORS, say): Fastify would have sent them, so they go out here.
 */
export function startSse(res: ServerResponse, requestId: string, held: HeldHeaders = {}): void {
  // writeHead merges these with its own (its own win).
  for (const name in held) {
    const v = held[name];
    if (v !== undefined) res.setHeader(name, v);
  }
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "x-request-id": requestId,
    // Keeps nginx from buffering the stream.
    "x-accel-buffering": "no",
  });
}

/**
 * Writes SSE text. Returns nothing while the socket keeps up (no promise per
 * event on the hot path); otherwise a promise that settles on 'drain', or on
 * 'close' when the client has gone, so a writer never waits forever.
 */
export function writeSse(res: ServerResponse, text: string): Promise<void> | void {
  if (res.write(text)) return;
  // A closed response already emitted 'close': waiting for it would hang.
  if (res.destroyed) return;
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
