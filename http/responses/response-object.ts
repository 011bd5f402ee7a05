// OpenAI's `response` object and its output items, in the exact shape the
// openai SDK types (`resources/responses/responses.ts`): the wire contract of
// POST/GET /v1/responses and of every streamed lifecycle event.
// https://platform.openai.com/docs/api-reference/responses/object
import type { Final } from "../../contract/mod.js";

export type ResponseStatus = "queued" | "in_progress" | "completed" | "incomplete" | "failed" | "cancelled";
export type ItemStatus = "in_progress" | "completed" | "incomplete";

export interface OutputText {
  type: "output_text";
  text: string;
  annotations: never[];
  logprobs: never[];
}

export interface OutputRefusal {
  type: "refusal";
  refusal: string;
}

export type ContentPart = OutputText | OutputRefusal;

export interface MessageItem {
  id: string;
  type: "message";
  status: ItemStatus;
  role: "assistant";
  content: ContentPart[];
}

export interface FunctionCallItem {
  id: string;
  type: "function_call";
  status: ItemStatus;
  call_id: string;
  name: string;
  arguments: string;
}

export type OutputItem = MessageItem | FunctionCallItem;

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** `error` of a failed response: OpenAI's codes are a closed list, so a broker error maps onto the nearest. */
export interface ResponseError {
  code: "server_error" | "rate_limit_exceeded" | "invalid_prompt";
  message: string;
}

/** A function tool as the Responses API names it (flat, unlike chat's `{type, function: {...}}`). */
export interface FunctionTool {
  type: "function";
  name: string;
  description: string | null;
  parameters: Record<string, unknown> | null;
  strict: boolean | null;
}

export type ToolChoice = "none" | "auto" | "required" | { type: "function"; name: string };

export type TextFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; name: string; schema: Record<string, unknown>; description?: string; strict: boolean | null };

/** The request fields a response echoes, as the request gave them (or OpenAI's defaults). */
export interface Echo {
  instructions: string | null;
  max_output_tokens: number | null;
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  store: boolean;
  temperature: number | null;
  text: { format: TextFormat };
  tool_choice: ToolChoice;
  tools: FunctionTool[];
  top_p: number | null;
  user: string | null;
  metadata: Record<string, string>;
}

/** What a response is before its job says anything: the id, time, model and the echoed request. */
export interface Skeleton {
  /** The job's id: every id in the response derives from it, so a replay of the job's log recomputes them. */
  jobId: string;
  /** Seconds, as OpenAI's `created_at`. */
  createdAt: number;
  /** The route target's public id, as chat completions name it. */
  model: string;
  echo: Echo;
  /** A background response: queued until its job starts, replayed from its job's event log. */
  background?: boolean;
}

export interface ResponseObject extends Echo {
  id: string;
  object: "response";
  created_at: number;
  status: ResponseStatus;
  background: boolean;
  error: ResponseError | null;
  incomplete_details: { reason: "max_output_tokens" | "content_filter" } | null;
  max_tool_calls: null;
  model: string;
  output: OutputItem[];
  reasoning: { effort: null; summary: null };
  truncation: "disabled";
  usage: ResponseUsage | null;
}

/** Ids as OpenAI spells them, all from the job id (chat completions are `chatcmpl-<job id>`). */
export const ids = {
  response: (jobId: string): string => `resp_${jobId}`,
  message: (jobId: string, n: number): string => (n === 0 ? `msg_${jobId}` : `msg_${jobId}_${n}`),
  functionCall: (jobId: string, n: number): string => `fc_${jobId}_${n}`,
  /** A call id for an engine that gave none: the next turn's function_call_output must name one. */
  callId: (jobId: string, n: number): string => `call_${jobId}_${n}`,
  /** Input items the client sent without an id (input_items lists them). */
  input: (jobId: string, kind: "msg" | "fc" | "fco", n: number): string => `${kind}_${jobId}_in${n}`,
} as const;

/** The prefix of every response id; a path id without it names nothing. */
export const RESPONSE_ID = /^resp_[A-Za-z0-9]{1,64}$/;

export function usageOf(f: Final): ResponseUsage {
  const input = f.usage?.promptTokens ?? 0;
  const output = f.usage?.completionTokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output,
  };
}
