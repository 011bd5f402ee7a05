// Why a TLS connection to a server that verifies clients fails without a
// certificate: nats.js only times out (under TLS 1.3 the server's refusal
// comes after the client's side of the handshake, and is lost), which would
// look like a server that is not up yet. The server says it in its INFO line,
// sent in clear before TLS starts, so one read of that line tells a person
// what to fix. Hand-written: no client exposes the INFO of a failed dial.
import { connect } from "node:net";

/** Whether the first server of `url` says it verifies client certificates (`tls_verify`); false when it cannot be asked. */
export async function serverVerifiesClients(url: string, timeoutMs = 2000): Promise<boolean> {
  const first = url.split(",")[0]?.trim() ?? "";
  let target: URL;
  try {
    target = new URL(first.includes("://") ? first : `nats://${first}`);
  } catch {
    return false;
  }
  const host = target.hostname.replace(/^\[|\]$/g, "");
  const port = Number(target.port || 4222);
  return new Promise((resolve) => {
    let buf = "";
    const socket = connect({ host, port });
    const done = (v: boolean): void => {
      socket.destroy();
      resolve(v);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on("error", () => done(false));
    socket.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n");
      if (end < 0) return buf.length > 64 * 1024 ? done(false) : undefined;
      const line = buf.slice(0, end);
      if (!line.startsWith("INFO ")) return done(false);
      try {
        done((JSON.parse(line.slice(5)) as { tls_verify?: unknown }).tls_verify === true);
      } catch {
        done(false);
      }
    });
  });
}
