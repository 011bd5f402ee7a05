/** The value of one Prometheus sample, 0 when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? "").includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return 0;
}

/** Reads one sample from a /metrics endpoint. */
export async function scrape(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return sample(await (await fetch(url)).text(), name, labels);
}

export interface AdminWorker {
  id: string;
  hostname: string;
  models: { model: string; engine: string; completed: number; jobs_per_s: number }[];
  slots: number;
  in_flight: number;
  draining: boolean;
  last_heartbeat: string;
}

export interface AdminQueue {
  model: string;
  lane: string;
  waiting: number;
  running: number;
  oldest_waiting_ms: number;
}

/** The gateway's /admin/workers list. */
export async function adminWorkers(gatewayUrl: string): Promise<AdminWorker[]> {
  return ((await (await fetch(`${gatewayUrl}/admin/workers`)).json()) as { data: AdminWorker[] }).data;
}

/** The gateway's /admin/queues list: one row per model and lane. */
export async function adminQueues(gatewayUrl: string): Promise<AdminQueue[]> {
  return ((await (await fetch(`${gatewayUrl}/admin/queues`)).json()) as { data: AdminQueue[] }).data;
}
