/** Small HTTP helpers for tests: JSON posts and an SSE reader that keeps the raw bytes. */

export interface SseResult {
  status: number;
  headers: Headers;
  raw: string;
  /** Parsed `data:` payloads, without the final [DONE]. */
  events: Record<string, unknown>[];
  done: boolean;
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

export function parseSse(raw: string): { events: Record<string, unknown>[]; done: boolean } {
  const events: Record<string, unknown>[] = [];
  let done = false;
  for (const block of raw.split("\n\n")) {
    if (!block.startsWith("data: ")) continue;
    const data = block.slice(6);
    if (data === "[DONE]") done = true;
    else events.push(JSON.parse(data) as Record<string, unknown>);
  }
  return { events, done };
}

export async function postSse(url: string, body: unknown, headers: Record<string, string> = {}): Promise<SseResult> {
  const res = await postJson(url, body, headers);
  const raw = await res.text();
  return { status: res.status, headers: res.headers, raw, ...parseSse(raw) };
}

/** Concatenated delta content per choice index from chat.completion.chunk events. */
export function joinChoices(events: Record<string, unknown>[]): Map<number, { text: string; finish: string | null; role: string | null }> {
  const out = new Map<number, { text: string; finish: string | null; role: string | null }>();
  for (const ev of events) {
    for (const c of (ev.choices as { index: number; delta: { content?: string; role?: string }; finish_reason: string | null }[]) ?? []) {
      const cur = out.get(c.index) ?? { text: "", finish: null, role: null };
      if (c.delta.role && cur.role === null) cur.role = c.delta.role;
      cur.text += c.delta.content ?? "";
      if (c.finish_reason) cur.finish = c.finish_reason;
      out.set(c.index, cur);
    }
  }
  return out;
}
