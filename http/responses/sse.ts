// The Responses stream's framing: every event is `event: <type>` plus its JSON
// in `data:`, as OpenAI sends it. Kept apart from the events themselves, which
// a replay recomputes without any HTTP.
import type { ResponseEvent } from "./events.js";

const TEXT_DELTA = `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":`;

/** SSE text for a batch of events. */
export function sseOf(events: readonly ResponseEvent[]): string {
  let out = "";
  for (const e of events) {
    // A text delta is nearly every event of a stream: written by hand, the bytes
    // JSON.stringify gives (a unit test holds them equal), at a quarter of the cost.
    if (e.type === "response.output_text.delta") {
      out += `${TEXT_DELTA}${e.sequence_number},"item_id":${JSON.stringify(e.item_id)},"output_index":${e.output_index},"content_index":${e.content_index},"delta":${JSON.stringify(e.delta)},"logprobs":[]}\n\n`;
    } else {
      out += `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
    }
  }
  return out;
}
