// An incremental server-sent-events decoder following the WHATWG EventSource
// rules, because upstream bytes arrive split anywhere: inside a line, inside a
// UTF-8 sequence, or between the \r and \n of a line break.

export interface SseEvent {
  /** The `event:` field, "message" when absent. */
  event: string;
  /** The `data:` lines of the event, joined by "\n". */
  data: string;
}

export class SseParser {
  private readonly decoder = new TextDecoder();
  private partial = "";
  private data: string[] = [];
  private event = "";
  // The previous piece ended in "\r": a "\n" opening the next one belongs to that line break.
  private pendingCr = false;

  /** Feeds bytes as they arrive; returns the events they complete. */
  push(bytes: Uint8Array): SseEvent[] {
    return this.feed(this.decoder.decode(bytes, { stream: true }));
  }

  /**
   * The stream ended. An event missing only its closing blank line is still
   * delivered: some servers end the last event with a single newline.
   */
  end(): SseEvent[] {
    const out = this.feed(this.decoder.decode());
    if (this.partial) this.line(this.partial, out);
    this.partial = "";
    this.line("", out);
    return out;
  }

  private feed(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    if (text === "") return out; // keeps a pending "\r" pending
    let start = 0;
    if (this.pendingCr && text.charCodeAt(0) === 10) start = 1;
    this.pendingCr = false;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.partial + text.slice(start, i);
      this.partial = "";
      this.line(line, out);
      if (c === 13) {
        if (i + 1 === text.length) this.pendingCr = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    if (start < text.length) this.partial += text.slice(start);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === "") {
      if (this.data.length > 0) out.push({ event: this.event || "message", data: this.data.join("\n") });
      this.data = [];
      this.event = "";
      return;
    }
    if (line.charCodeAt(0) === 58 /* ":" comment, e.g. a keep-alive */) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
  }
}
