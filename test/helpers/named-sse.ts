import assert from "node:assert/strict";

/**
 * `event:` names and parsed `data:` of a named-event SSE text (Anthropic's
 * Messages stream, OpenAI's Responses stream), checking that each data's
 * `type` is its event's name, as both dialects send it.
 */
export function namedEvents(raw: string): { event: string; data: Record<string, unknown> }[] {
  return raw.split("\n\n").filter(Boolean).map((block) => {
    const m = /^event: (\S+)\ndata: (.*)$/s.exec(block);
    assert.ok(m, `an event block: ${JSON.stringify(block)}`);
    const data = JSON.parse(m[2] as string) as Record<string, unknown>;
    assert.equal(data.type, m[1], "the data's type is the event's name");
    return { event: m[1] as string, data };
  });
}
