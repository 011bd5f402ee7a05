// Server-sent events from upstream bytes, which arrive split anywhere: inside a
// line, inside a UTF-8 sequence, between the \r and \n of a line break.
// eventsource-parser does the WHATWG line rules (and parsed a realistic OpenAI
// stream 1.3-3.6x faster than the decoder it replaced); this adds the UTF-8
// decoding and the end of the stream.
import { createParser, type EventSourceParser } from "eventsource-parser";

export interface SseEvent {
  /** The `event:` field, "message" when absent. */
  event: string;
  /** The `data:` lines of the event, joined by "\n". */
  data: string;
}

const NONE: readonly SseEvent[] = Object.freeze([]);

export class SseDecoder {
  private readonly text = new TextDecoder();
  private readonly parser: EventSourceParser;
  private out: SseEvent[] = [];

  constructor() {
    this.parser = createParser({ onEvent: (e) => void this.out.push({ event: e.event ?? "message", data: e.data }) });
  }

  /** Feeds bytes as they arrive; returns the events they complete. */
  push(bytes: Uint8Array): readonly SseEvent[] {
    this.parser.feed(this.text.decode(bytes, { stream: true }));
    return this.take();
  }

  /**
   * The stream ended. An event missing its closing blank line is still
   * delivered (some servers end the last event with a single newline): a line
   * break ends a last line, a blank line then dispatches what is pending.
   */
  end(): readonly SseEvent[] {
    this.parser.feed(`${this.text.decode()}\n\n`);
    return this.take();
  }

  private take(): readonly SseEvent[] {
    if (this.out.length === 0) return NONE;
    const out = this.out;
    this.out = [];
    return out;
  }
}
