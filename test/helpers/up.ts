import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./nats.js";
import { waitFor } from "./broker.js";

const CLI = fileURLToPath(new URL("../../scripts/broker.js", import.meta.url));

export interface Up {
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGINT (as Ctrl-C would) and wait for the exit code. */
  stop(): Promise<number | null>;
}

/** Runs the real `broker up` (embedded nats-server, gateway, workers) on free ports and a temp store. */
export async function startUp(config: Record<string, unknown>): Promise<Up> {
  const dir = mkdtempSync(join(tmpdir(), "broker-up-"));
  const [port, natsPort] = [await freePort(), await freePort()];
  const file = join(dir, "broker.json");
  writeFileSync(file, JSON.stringify({ ...config, embeddedNats: { port: natsPort, dataDir: join(dir, "nats") } }));
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), LOG_LEVEL: "warn" };
  delete env.NATS_URL;
  const child = spawn(process.execPath, [CLI, "up", "--config", file], { stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`broker up exited: ${out}`);
    try {
      return (await fetch(`${url}/readyz`)).ok;
    } catch {
      return false;
    }
  }, "broker up to be ready", 30_000);
  return {
    url,
    child,
    output: () => out,
    stop: async () => {
      child.kill("SIGINT");
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}
