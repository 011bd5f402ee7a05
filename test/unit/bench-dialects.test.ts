// The load generator's tail readers against streams made by the gateway's own
// formatters, so a change in either dialect's framing breaks here, not silently
// in a bench run that counts every answer as failed (or every failure as whole).
import assert from "node:assert/strict";
import { test } from "node:test";
import { streamEvents, tailReader } from "../../bench/dialects.js";
import { backgroundBody, chatBody, PACED_MODEL, responsesBody } from "../../bench/scenarios.js";
import { BrokerError, type Delta, type Final } from "../../contract/mod.js";
import { ChatStream } from "../../http/openai/chat-format.js";
import { ResponseEvents } from "../../http/responses/events.js";
import { parseResponsesRequest } from "../../http/responses/request.js";
import { sseOf } from "../../http/responses/sse.js";

const TOKENS = 256;
const final: Final = { usage: { promptTokens: 9, completionTokens: TOKENS } };
const words = (n: number): Delta[] => Array.from({ length: n }, (_, i) => ({ content: ` word${i}` }));

/** The bench's own streamed Responses request, as the gateway would answer it (deltas in batches of 16). */
function responses(maxTokens = TOKENS): { events: ResponseEvents; body: string } {
  const r = parseResponsesRequest(JSON.parse(responsesBody(true, maxTokens)) as unknown);
  const events = new ResponseEvents({ jobId: "job1", createdAt: 1_700_000_000, model: "sim", echo: r.echo });
  let body = sseOf(events.opening());
  const ds = words(TOKENS);
  for (let i = 0; i < ds.length; i += 16) body += sseOf(events.deltas(ds.slice(i, i + 16)));
  return { events, body };
}

/** What the load generator reads: the last `n` characters (its last two socket chunks), or all. */
const tails = (body: string): string[] => [body, ...[20_000, 8_000, 6_000].filter((n) => n < body.length).map((n) => body.slice(-n))];

test("a whole Responses stream is complete with output_tokens from response.completed", () => {
  const { events, body } = responses();
  const whole = body + sseOf(events.final(final));
  assert.match(whole, /event: response\.completed\n/);
  const read = tailReader("responses", true);
  for (const tail of tails(whole)) {
    assert.equal(read.tokens(tail), TOKENS);
    assert.equal(read.complete(tail, read.tokens(tail)), true);
  }
});

test("the background body is the foreground stream's request with background set, and its stream reads the same", () => {
  const fg = parseResponsesRequest(JSON.parse(responsesBody(true, TOKENS)) as unknown);
  const bg = parseResponsesRequest(JSON.parse(backgroundBody(TOKENS)) as unknown);
  assert.equal(bg.background, true);
  assert.equal(bg.stream, true);
  // Only background differs, so the scenario's ratio is what the background path costs.
  assert.deepEqual({ ...bg, background: false }, fg);
  const events = new ResponseEvents({ jobId: "job3", createdAt: 1_700_000_000, model: "sim", echo: bg.echo, background: true });
  let body = sseOf(events.opening());
  body += sseOf(events.deltas(words(TOKENS)));
  body += sseOf(events.final(final));
  const read = tailReader("responses", true);
  for (const tail of tails(body)) {
    assert.equal(read.tokens(tail), TOKENS);
    assert.equal(read.complete(tail, read.tokens(tail)), true);
  }
});

test("a Responses stream cut at max_output_tokens (response.incomplete) is whole, as a chat stream cut by max_tokens is", () => {
  const { events, body } = responses();
  events.deltas([{ finishReason: "length" }]);
  const tail = body + sseOf(events.final(final));
  assert.match(tail, /event: response\.incomplete\n/);
  const read = tailReader("responses", true);
  assert.equal(read.complete(tail, read.tokens(tail)), true);
  assert.equal(read.tokens(tail), TOKENS);
});

test("a failed Responses stream (error, response.failed) and one cut off mid-way are not complete", () => {
  const read = tailReader("responses", true);
  const { events, body } = responses();
  const failed = body + sseOf(events.failed(new BrokerError("worker_lost", "The worker went away.")));
  assert.match(failed, /event: error\n[^]*event: response\.failed\n/);
  assert.equal(read.complete(failed, read.tokens(failed)), false);
  assert.equal(read.tokens(failed), 0);
  assert.equal(read.complete(body, read.tokens(body)), false);
  assert.equal(read.complete(body.slice(0, -1), 0), false);
});

test("answer text that looks like the end of a stream is not taken for it: JSON escapes its newlines and quotes", () => {
  const { events, body } = responses();
  const tricky = body + sseOf(events.deltas([{ content: '\n\nevent: response.completed\ndata: {"usage":{"output_tokens":7}}\n\n' }]));
  const read = tailReader("responses", true);
  assert.equal(read.tokens(tricky), 0);
  assert.equal(read.complete(tricky, 0), false);
});

test("a non-stream Responses body counts its output_tokens, not output_tokens_details", () => {
  const r = parseResponsesRequest(JSON.parse(responsesBody(false, 16)) as unknown);
  const events = new ResponseEvents({ jobId: "job2", createdAt: 1_700_000_000, model: "sim", echo: r.echo });
  events.deltas(words(16));
  events.final({ usage: { promptTokens: 9, completionTokens: 16 } });
  const body = JSON.stringify(events.snapshot());
  const read = tailReader("responses", false);
  assert.equal(read.tokens(body), 16);
  assert.equal(read.complete(body, 16), true);
  assert.equal(read.complete('{"error":{"message":"no"}}', read.tokens('{"error":{"message":"no"}}')), false);
});

test("chat streams read as before: [DONE] ends a whole one, an error event spoils it, usage gives the tokens", () => {
  assert.match(chatBody(true, TOKENS), /"include_usage":true/);
  const s = new ChatStream({ id: "chatcmpl-1", created: 1_700_000_000, model: "sim", includeUsage: true });
  const body = s.deltas([...words(TOKENS), { finishReason: "stop" }]);
  const read = tailReader("chat", true);
  for (const tail of tails(body + s.final(final))) {
    assert.equal(read.tokens(tail), TOKENS);
    assert.equal(read.complete(tail, TOKENS), true);
  }
  const failed = `${body}${s.error(new BrokerError("worker_lost", "The worker went away."))}data: [DONE]\n\n`;
  assert.equal(read.complete(failed, read.tokens(failed)), false);
  assert.equal(read.complete(body, 0), false);
  const json = tailReader("chat", false);
  const completion = '{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":16,"total_tokens":25}}';
  assert.equal(json.tokens(completion), 16);
  assert.equal(json.complete(completion, 16), true);
});

test("streamEvents counts every SSE event of a stream with one token per delta, as responses-events-c32 divides by", () => {
  const chat = new ChatStream({ id: "chatcmpl-2", created: 1_700_000_000, model: PACED_MODEL, includeUsage: true });
  let chatBodyText = "";
  // One delta per chunk, as the paced sim sends them; the finish reason rides on the last one.
  for (const d of words(TOKENS)) chatBodyText += chat.deltas([d]);
  chatBodyText += chat.deltas([{ finishReason: "stop" }]) + chat.final(final);
  // 256 deltas, the lone finish_reason chunk, the usage chunk and [DONE].
  assert.equal(streamEvents(chatBodyText), TOKENS + 3);
  assert.equal(chatBodyText.split("data: ").length - 1, TOKENS + 3);

  const r = parseResponsesRequest(JSON.parse(responsesBody(true, TOKENS, PACED_MODEL)) as unknown);
  assert.equal(r.model, PACED_MODEL);
  const events = new ResponseEvents({ jobId: "job4", createdAt: 1_700_000_000, model: PACED_MODEL, echo: r.echo });
  let body = sseOf(events.opening());
  for (const d of words(TOKENS)) body += sseOf(events.deltas([d]));
  body += sseOf(events.final(final));
  // 256 output_text.delta, plus created, in_progress, the item and part added, the three done events, completed.
  assert.equal(streamEvents(body), TOKENS + 8);
  assert.equal(body.split("\nevent: ").length, TOKENS + 8);
  // Text that looks like an event's end is escaped inside its JSON, so it is never counted.
  const tricky = new ChatStream({ id: "chatcmpl-3", created: 1_700_000_000, model: PACED_MODEL, includeUsage: false });
  assert.equal(streamEvents(tricky.deltas([{ content: "a\n\nb" }])), 1);
});
