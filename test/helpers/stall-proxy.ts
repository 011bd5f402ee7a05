// A TCP proxy that can stall like a cut cable: while stalled, bytes in both
// directions are held back, with no reset and no error, as TCP retransmits
// into a dead link; resume() delivers them in order, as a mended link does.
// Only a proxy can do this without root: closing a socket is a different
// failure (the client sees it at once), and namespaces need root.
import { connect, createServer, type Socket } from "node:net";

export interface StallProxy {
  /** nats://127.0.0.1:<port>, to hand a process instead of the server's own URL. */
  url: string;
  stall(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startStallProxy(targetPort: number): Promise<StallProxy> {
  let stalled = false;
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const forward = (from: Socket, to: Socket): void => {
    from.on("data", (d: Buffer) => {
      if (stalled) held.push(() => to.write(d));
      else to.write(d);
    });
  };
  const server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("the proxy has no port");
  return {
    url: `nats://127.0.0.1:${address.port}`,
    stall: () => void (stalled = true),
    resume: () => {
      stalled = false;
      for (const send of held.splice(0)) send();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
