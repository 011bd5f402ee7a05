#!/usr/bin/env node
// The client of the multi-host scenario, run inside its own namespace:
//   node multihost-driver.js '{"url":"http://10.x.0.5:8080","requests":1000,"concurrency":32,"model":"sim"}'
// Sends `requests` chat completions (every other one streamed), and prints one
// JSON line: how each ended (complete, a well-formed OpenAI error by code, or
// malformed: a reset, a timeout, a stream cut without an error event) and the
// longest pause between two completions. Progress lines ("done N") go to
// stderr so the test can act at a point of the run, not after a sleep.
interface Spec {
  url: string;
  requests: number;
  concurrency: number;
  model: string;
  timeoutMs?: number;
}

/** What the driver prints: the multi-host test reads it (as a type only: importing this file would run it). */
export interface DriverResult {
  completed: number;
  ok: number;
  errors: Record<string, number>;
  malformed: Record<string, number>;
  maxPauseMs: number;
  durationMs: number;
}

const spec = JSON.parse(process.argv[2] ?? "{}") as Spec;
const result: DriverResult = { completed: 0, ok: 0, errors: {}, malformed: {}, maxPauseMs: 0, durationMs: 0 };
const bump = (m: Record<string, number>, k: string): void => void (m[k] = (m[k] ?? 0) + 1);

function errorCode(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    return typeof body.error?.message === "string" ? String(body.error.code ?? "null") : undefined;
  } catch {
    return undefined;
  }
}

async function one(i: number): Promise<void> {
  const stream = i % 2 === 1;
  try {
    const res = await fetch(`${spec.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: spec.model, stream, messages: [{ role: "user", content: `request ${i}` }] }),
      signal: AbortSignal.timeout(spec.timeoutMs ?? 60_000),
    });
    const text = await res.text();
    if (res.status !== 200) {
      const code = errorCode(text);
      if (code) bump(result.errors, code);
      else bump(result.malformed, `status ${res.status} without an error body`);
    } else if (!stream) {
      if (text.includes('"choices"')) result.ok++;
      else bump(result.malformed, "200 without choices");
    } else {
      const err = /data: (\{"error".*)\n\n/.exec(text)?.[1];
      if (err) bump(result.errors, errorCode(err) ?? "error event");
      else if (text.endsWith("data: [DONE]\n\n")) result.ok++;
      else bump(result.malformed, "stream cut without an error event");
    }
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    bump(result.malformed, cause ?? (e as Error).name ?? "error");
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  let last = t0;
  let issued = 0;
  const loop = async (): Promise<void> => {
    while (issued < spec.requests) {
      const i = issued++;
      await one(i);
      const now = performance.now();
      result.maxPauseMs = Math.max(result.maxPauseMs, now - last);
      last = now;
      result.completed++;
      if (result.completed % 50 === 0) process.stderr.write(`done ${result.completed}\n`);
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, loop));
  result.durationMs = performance.now() - t0;
  result.maxPauseMs = Math.round(result.maxPauseMs);
  result.durationMs = Math.round(result.durationMs);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

void main();
