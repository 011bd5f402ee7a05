// What a provider declares to the shared relay, as Portkey and TensorZero
// structure providers: how its requests are addressed and authorised, how its
// errors read, and per kind of request, how its answers become deltas.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { BrokerError, Usage } from "../../../contract/mod.js";
import type { DeltaSink } from "../../engine.js";
import type { Caller } from "./errors.js";
import type { SseEvent } from "./sse.js";

/** A provider's wire conventions, the same for every request it gets. */
export interface Dialect {
  /** The headers that carry a (non-empty) key: `authorization: Bearer`, `x-api-key`... */
  keyHeaders(key: string): OutgoingHttpHeaders;
  /** Headers on every request besides the key and the content ones, e.g. anthropic-version. */
  readonly headers?: OutgoingHttpHeaders;
  /** Where `path` goes, relative to baseUrl; default: just under it. */
  url?(path: string, base: URL): URL;
  /** A non-2xx answer, from its status, headers and body text. */
  httpError(status: number, headers: IncomingHttpHeaders, body: string, caller: Caller): BrokerError;
}

/** What the upstream said about a run besides the text. */
export interface Served {
  usage: Usage;
  model?: string;
  systemFingerprint?: string;
  /** The stop sequence that ended the answer, where the upstream says which. */
  stopSequence?: string;
  /** Anthropic's own stop_reason, where the upstream speaks Anthropic's API. */
  stopReason?: string;
}

/** One streamed answer's events turned into deltas. */
export interface StreamMapping {
  /** A token came, so the first-token phase is over; until then the relay does not touch its timer. */
  readonly tokens: boolean;
  /** Handles one event; returns true at the provider's end marker. */
  accept(ev: SseEvent): boolean;
  /** The stream is over; `done`: the end marker came. Closes open choices, or fails when the answer was cut off. */
  end(done: boolean): void;
  served(): Served;
}

/** One generation request (chat or legacy completion) in a provider's terms. */
export interface Generation {
  /** Relative to baseUrl, e.g. "chat/completions". */
  path: string;
  body: Record<string, unknown>;
  /** The request asked for a stream; a server may still answer JSON. */
  stream: boolean;
  /** A mapping for one SSE answer. */
  streamMapping(sink: DeltaSink, caller: Caller): StreamMapping;
  /** A whole JSON answer mapped to deltas. */
  whole(payload: unknown, sink: DeltaSink, caller: Caller): Served;
}
