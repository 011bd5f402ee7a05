/** Small HTTP helpers for tests: JSON posts and an SSE reader that keeps the raw bytes. */

/** `E` is the shape the caller expects of each event; nothing checks it. */
export interface SseResult<E = Record<string, unknown>> {
  status: number;
  headers: Headers;
  raw: string;
  /** Parsed `data:` payloads, without the final [DONE]. */
  events: E[];
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

/** The JSON body of a response, as the type the caller expects; the assertions that follow are the check. */
export async function readJson<T>(res: Response | Promise<Response>): Promise<T> {
  return (await (await res).json()) as T;
}

export function parseSse<E = Record<string, unknown>>(raw: string): { events: E[]; done: boolean } {
  const events: E[] = [];
  let done = false;
  for (const block of raw.split("\n\n")) {
    if (!block.startsWith("data: ")) continue;
    const data = block.slice(6);
    if (data === "[DONE]") done = true;
    else events.push(JSON.parse(data) as E);
  }
  return { events, done };
}

export async function postSse<E = Record<string, unknown>>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<SseResult<E>> {
  const res = await postJson(url, body, headers);
  const raw = await res.text();
  return { status: res.status, headers: res.headers, raw, ...parseSse<E>(raw) };
}

/** Concatenated delta content per choice index from chat.completion.chunk events. */
export function joinChoices(events: readonly object[]): Map<number, { text: string; finish: string | null; role: string | null }> {
  const out = new Map<number, { text: string; finish: string | null; role: string | null }>();
  for (const ev of events) {
    for (const c of (ev as { choices?: { index: number; delta: { content?: string | null; role?: string }; finish_reason: string | null }[] }).choices ?? []) {
      const cur = out.get(c.index) ?? { text: "", finish: null, role: null };
      if (c.delta.role && cur.role === null) cur.role = c.delta.role;
      cur.text += c.delta.content ?? "";
      if (c.finish_reason) cur.finish = c.finish_reason;
      out.set(c.index, cur);
    }
  }
  return out;
}
