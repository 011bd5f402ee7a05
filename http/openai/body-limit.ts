// A body over the gateway's limit, answered so the client can read the 413.
//
// Fastify answers as soon as it sees a body is too large (at once when the
// Content-Length says so), while the client is still uploading. Node then
// closes the socket with upload bytes unread, and the kernel answers the
// client's next bytes with a reset: the client gets EPIPE or ECONNRESET
// while writing and most never read the answer. So the gateway first reads
// and throws away the rest of the upload, up to a bound, then answers with
// `Connection: close` (the "lingering close" of RFC 9112 §9.6). A client
// that sends more than the bound is not worth the bandwidth: it is answered
// and cut off.
import type { IncomingMessage } from "node:http";
import { BrokerError } from "../../contract/mod.js";

/** How much upload, as a multiple of the body limit, is read and discarded before answering. */
export const DISCARD_FACTOR = 4;

export type Discarded = "ended" | "over" | "gone";

export function isTooLarge(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "FST_ERR_CTP_BODY_TOO_LARGE";
}

function size(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  if (Number.isInteger(mib)) return `${mib} MiB (${bytes} bytes)`;
  return `${bytes} bytes`;
}

/** The 413, naming the limit so a person knows how much to cut. */
export function tooLarge(limitBytes: number): BrokerError {
  return new BrokerError(
    "request_too_large",
    `The request body is over this gateway's limit of ${size(limitBytes)}. Send a smaller request (shorter messages, fewer or smaller images, fewer inputs per call).`,
  );
}

/**
 * Reads the rest of the upload and drops it. Resolves "ended" once the
 * request has ended, "over" as soon as the upload passes DISCARD_FACTOR ×
 * the limit (reading stops there), "gone" when the client went away. Nothing
 * is kept: each chunk is counted and left to the garbage collector.
 */
export function discardUpload(req: IncomingMessage, limitBytes: number): Promise<Discarded> {
  if (req.readableEnded) return Promise.resolve("ended");
  if (req.destroyed) return Promise.resolve("gone");
  const bound = limitBytes * DISCARD_FACTOR;
  const announced = Number(req.headers["content-length"]);
  if (announced > bound) return Promise.resolve("over");
  // Without a Content-Length, Fastify read over the limit before it gave up; counting just the
  // limit undercounts by at most one chunk, which the bound can afford.
  let seen = Number.isNaN(announced) ? limitBytes : 0;
  return new Promise((resolve) => {
    const finish = (r: Discarded): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onGone);
      req.off("close", onGone);
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen <= bound) return;
      req.pause();
      finish("over");
    };
    const onEnd = (): void => finish("ended");
    const onGone = (): void => finish("gone");
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onGone);
    req.once("close", onGone);
    req.resume();
  });
}
