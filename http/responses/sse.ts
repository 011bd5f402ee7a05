// The Responses stream's framing: every event is `event: <type>` plus its JSON
// in `data:`, as OpenAI sends it. Kept apart from the events themselves, which
// a replay recomputes without any HTTP.
import type { ResponseEvent } from "./events.js";

/** SSE text for a batch of events. */
export function sseOf(events: readonly ResponseEvent[]): string {
  let out = "";
  for (const e of events) out += `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
  return out;
}
