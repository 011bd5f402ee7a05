// The relay's SSE handling (eventsource-parser behind SseDecoder): upstream
// bytes split anywhere still make the same events.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SseDecoder } from "../../workers/engines/relay/sse.js";

describe("SSE parser", () => {
  const parseBytes = (pieces: Buffer[]): string[] => {
    const p = new SseDecoder();
    const out = pieces.flatMap((b) => p.push(b));
    return [...out, ...p.end()].map((e) => `${e.event}=${e.data}`);
  };
  const parse = (pieces: string[]): string[] => parseBytes(pieces.map((s) => Buffer.from(s)));

  test("line breaks of every kind, split anywhere", () => {
    assert.deepEqual(parse(["data: a\r", "\n\r", "\ndata:b\n", "\n: keep-alive\n\ndata: c\r\rdat", "a: d\n\n"]), ["message=a", "message=b", "message=c", "message=d"]);
  });

  test("a \\r and its \\n stay one line break across an empty piece", () => {
    assert.deepEqual(parse(["data: a\r", "", "\ndata: b\n\n"]), ["message=a\nb"]);
  });

  test("multi-line data, event names, other fields ignored, a last event without its blank line", () => {
    assert.deepEqual(parse(["event: error\nid: 1\nretry: 5\ndata: x\ndata: y\n\n", "data: last\n"]), ["error=x\ny", "message=last"]);
  });

  test("\\r\\n across every chunk boundary: the same events as whole", () => {
    const stream = "event: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: one\r\ndata: two\r\n\r\n: ping\r\n\r\ndata: [DONE]\r\n\r\n";
    const whole = parse([stream]);
    assert.deepEqual(whole, ["message_start={\"a\":1}", "message=one\ntwo", "message=[DONE]"]);
    for (let cut = 1; cut < stream.length; cut++) assert.deepEqual(parse([stream.slice(0, cut), stream.slice(cut)]), whole, `cut at ${cut}`);
  });

  test("multi-byte characters split between pieces, one byte at a time", () => {
    const bytes = Buffer.from("data: héllo 🙂 wörld\n\n");
    assert.deepEqual(parseBytes([...bytes].map((b) => Buffer.from([b]))), ["message=héllo 🙂 wörld"]);
  });

  test("a stream that ends inside a last line, or after a lone \\r", () => {
    assert.deepEqual(parse(["data: a\n\ndata: b"]), ["message=a", "message=b"]);
    assert.deepEqual(parse(["data: a\r"]), ["message=a"]);
  });
});
