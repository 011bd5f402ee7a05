// The shared HTTP relay's public entry: what provider folders (openai-http/,
// anthropic/) build their engines from.
export type { Dialect, Generation, Served, StreamMapping } from "./dialect.js";
export { credentialsRefused, cutOff, networkError, redact, retryAfterSeconds, type Caller } from "./errors.js";
export { eventObject, extraFields, jobJson, jsonOrUndefined, nonEmpty, num, obj, str, type Json } from "./json.js";
export { loadRelayOptions, relayOptions, type RelayOptions } from "./options.js";
export { Relay } from "./relay.js";
export { SseDecoder, type SseEvent } from "./sse.js";
