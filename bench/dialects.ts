// How the load generator tells, from the last bytes of an answer alone, whether
// it is whole and how many tokens it carried, in each OpenAI dialect the bench
// drives. Only the tail is read: this runs once per answer in the load loop,
// and a 256-token stream's body is tens of KB that nothing else looks at.

/** The dialects the bench speaks, by the path they are posted to. */
export const DIALECTS = { chat: "/v1/chat/completions", responses: "/v1/responses" } as const;
export type Dialect = keyof typeof DIALECTS;

/** Reads an answer's tail: the whole body if short, else at least its last event. */
export interface TailReader {
  tokens(tail: string): number;
  /** Whether a 2xx answer is whole; `tokens` is what tokens() read from the same tail. */
  complete(tail: string, tokens: number): boolean;
}

/** The digits after the last `key` in `tail`; 0 when there are none. */
function lastCount(tail: string, key: string): number {
  const at = tail.lastIndexOf(key);
  if (at < 0) return 0;
  let n = 0;
  for (let i = at + key.length; i < tail.length; i++) {
    const d = tail.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  return n;
}

// Chat's usage rides on the last chunk (stream_options.include_usage) or in the body.
const chatTokens = (tail: string): number => lastCount(tail, '"completion_tokens":');
// The response's usage: in response.completed's snapshot, or in the body.
// `"output_tokens":` never matches `"output_tokens_details":`, and text inside a
// JSON string has its quotes escaped, so only the usage field is found.
const responsesTokens = (tail: string): number => lastCount(tail, '"output_tokens":');

// A JSON body has its usage only once the answer is whole.
const hasTokens = (_tail: string, tokens: number): boolean => tokens > 0;

const chatStream: TailReader = {
  tokens: chatTokens,
  // After headers a failure is one `data: {"error":…}` event; the stream still ends with [DONE].
  complete: (tail) => tail.endsWith("data: [DONE]\n\n") && !tail.includes('data: {"error"'),
};

const responsesStream: TailReader = {
  tokens: responsesTokens,
  complete: (tail) => {
    if (!tail.endsWith("\n\n")) return false;
    // An event's JSON holds no raw newline, so the last "\nevent: " is the last
    // event's own line (or the tail starts with it: then `at` is 0).
    const at = tail.lastIndexOf("\nevent: ") + 1;
    // response.incomplete is an answer cut at max_output_tokens: whole, as a chat
    // stream cut by max_tokens is. A failure ends with response.failed.
    return tail.startsWith("event: response.completed\n", at) || tail.startsWith("event: response.incomplete\n", at);
  },
};

const READERS: Record<Dialect, { stream: TailReader; json: TailReader }> = {
  chat: { stream: chatStream, json: { tokens: chatTokens, complete: hasTokens } },
  responses: { stream: responsesStream, json: { tokens: responsesTokens, complete: hasTokens } },
};

/**
 * The SSE events in a whole stream body, in either dialect: each event ends
 * with a blank line, and no event holds a raw newline (its JSON escapes them).
 * Chat's `data: [DONE]` counts as one, as every `data:` chunk does.
 */
export function streamEvents(body: string): number {
  let n = 0;
  for (let at = body.indexOf("\n\n"); at >= 0; at = body.indexOf("\n\n", at + 2)) n++;
  return n;
}

/** The reader for a target's answers, picked once per load run. */
export function tailReader(dialect: Dialect, stream: boolean): TailReader {
  return stream ? READERS[dialect].stream : READERS[dialect].json;
}
