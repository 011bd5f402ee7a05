// What every OpenAI JSON endpoint shares before the core sees a request: the
// body must be an object, token-id prompts are refused, unmodelled fields are
// kept for engines, and a canonical path is named as OpenAI names the field.
import { z } from "zod";
import { BrokerError } from "../../contract/mod.js";
import { check, fields, invalid, jsonParam, type Path } from "../../core/mod.js";

/** The JSON fields chat and legacy completions share, with the core's limits. */
export const samplingJson = {
  model: fields.modelName,
  max_tokens: fields.maxTokens,
  temperature: fields.temperature,
  top_p: fields.topP,
  n: fields.choices,
  stop: fields.stopSchema,
  seed: fields.seed,
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  user: z.string().nullish(),
  presence_penalty: fields.penalty,
  frequency_penalty: fields.penalty,
};

/**
 * Validates a JSON body against an endpoint's schema.
 * @throws BrokerError 400 `invalid_request` naming the field in `param`.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BrokerError("invalid_request", "The request body must be a JSON object.");
  }
  return check(schema, body, jsonParam);
}

/**
 * OpenAI accepts prompts and inputs as token ids too; they only mean
 * something to the tokenizer that made them, which the gateway cannot know.
 */
export function rejectTokenIds(body: unknown, field: string): void {
  const v = typeof body === "object" && body !== null ? (body as Record<string, unknown>)[field] : undefined;
  const ids = (x: unknown): boolean => typeof x === "number" || (Array.isArray(x) && x.some((y) => typeof y === "number"));
  if (ids(v) || (Array.isArray(v) && v.some(ids))) {
    throw invalid(field, `Token ids in '${field}' are not supported here; send text (a string or an array of strings).`);
  }
}

/** Top-level fields an endpoint does not model, as a JSON object ("" when none), for engines that accept them. */
export function extraJson(raw: Record<string, unknown>, modelled: ReadonlySet<string>): string {
  let extra: Record<string, unknown> | undefined;
  for (const key of Object.keys(raw)) {
    if (!modelled.has(key)) (extra ??= {})[key] = raw[key];
  }
  return extra ? JSON.stringify(extra) : "";
}

// Canonical (protobuf) field names whose JSON name is not their snake_case.
const RENAMED: Record<string, string> = {
  toolsJson: "tools",
  toolChoiceJson: "tool_choice",
  responseFormatJson: "response_format",
  prompts: "prompt",
  inputs: "input",
  parts: "content",
  imageUrl: "image_url.url",
  imageDetail: "image_url.detail",
};
const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * A canonical path as the OpenAI JSON names it: the job's `chat.messages[1].toolCallId`
 * is the body's `messages[1].tool_call_id`, a tool call's `name` its `function.name`.
 */
export function openaiParam(path: Path): string {
  const out: PropertyKey[] = [];
  // The first key is the job kind (chat, completion, embedding): the body is that request.
  path.forEach((key, i) => {
    if (i === 0 && path.length > 1 && key !== "model") return;
    if (typeof key !== "string") return void out.push(key);
    if ((key === "name" || key === "arguments") && path[i - 2] === "toolCalls") out.push("function");
    out.push(RENAMED[key] ?? snake(key));
  });
  return jsonParam(out);
}
