// The field schemas and limits every front shares: a bound is written once
// here, and both the HTTP JSON schemas and the canonical request checks use
// it. Each schema names what it expects in its `error`, so a failure reads
// "Invalid value for 'temperature': expected a number between 0 and 2."
import { z } from "zod";
import type { IssueParams } from "./issues.js";

export const number = (min: number, max: number) => {
  const error = `a number between ${min} and ${max}`;
  return z.number({ error }).min(min, { error }).max(max, { error }).nullish();
};
export const integer = (min: number, max: number, error: string) =>
  z.int({ error }).min(min, { error }).max(max, { error }).nullish();
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `one of ${values.map((v) => `'${v}'`).join(", ")}` });
export const jsonObject = z.record(z.string(), z.unknown());

export const positive = "a positive integer";
export const nonEmpty = "a non-empty string";

// Sampling and length bounds, as OpenAI documents them.
export const temperature = number(0, 2);
export const topP = number(0, 1);
export const penalty = number(-2, 2);
export const maxTokens = integer(1, Number.MAX_SAFE_INTEGER, positive);
export const choices = integer(1, 128, "an integer between 1 and 128");
export const seed = z.int({ error: "an integer" }).nullish();
export const MAX_EMBEDDING_INPUTS = 2048;
export const MAX_DIMENSIONS = 65536;

export const ROLES = ["system", "developer", "user", "assistant", "tool", "function"] as const;
export const role = oneOf(ROLES);
export const IMAGE_DETAILS = ["auto", "low", "high"] as const;

export const stopList = z.array(z.string()).max(4, { error: "at most 4 stop sequences" });
export const stopSchema = z
  .union([z.string(), stopList], { error: "a string or an array of up to 4 strings" })
  .nullish();

/** Stop sequences as the job carries them. OpenAI ignores empty ones; engines may treat "" as "stop at once". */
export function toStop(stop: string | readonly string[] | null | undefined): string[] {
  if (stop == null) return [];
  return (typeof stop === "string" ? [stop] : stop).filter((s) => s !== "");
}

const functionName = "a name of letters, digits, '_' or '-', at most 64 characters";

/** One entry of `tools`: travels to engines as the client's own JSON. */
export const toolSchema = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string({ error: functionName }).regex(/^[a-zA-Z0-9_-]{1,64}$/, { error: functionName }),
    description: z.string().nullish(),
    parameters: jsonObject.nullish(),
    strict: z.boolean().nullish(),
  }),
});

export const toolChoiceSchema = z.union(
  [oneOf(["none", "auto", "required"]), z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) })],
  { error: `'none', 'auto', 'required' or {"type": "function", "function": {"name": ...}}` },
);

export const responseFormatSchema = z
  .object({
    type: oneOf(["text", "json_object", "json_schema"]),
    json_schema: z
      .object({ name: z.string(), description: z.string().nullish(), schema: jsonObject.nullish(), strict: z.boolean().nullish() })
      .nullish(),
  })
  .superRefine((f, ctx) => {
    const params: IssueParams = { missing: true };
    if (f.type === "json_schema" && f.json_schema == null) ctx.addIssue({ code: "custom", path: ["json_schema"], params, message: "missing" });
  });

/**
 * JSON carried in a string field (gRPC's tools_json and the like): "" means
 * absent; anything else must parse and match `inner`. Issues name the field
 * itself, since a client cannot point inside a string.
 */
export function jsonText(inner: z.ZodType, what: string) {
  return z.string().superRefine((text, ctx) => {
    if (text === "") return;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      const params: IssueParams = { full: "not valid JSON." };
      ctx.addIssue({ code: "custom", params, message: "not valid JSON" });
      return;
    }
    if (!inner.safeParse(v).success) {
      const params: IssueParams = { full: `expected ${what}.` };
      ctx.addIssue({ code: "custom", params, message: what });
    }
  });
}

/** The model a call names. */
export const modelName = z.string({ error: nonEmpty }).min(1, { error: nonEmpty });

/** The canonical fields chat and legacy completions share (ChatRequest and CompletionRequest name them alike). */
export const samplingShape = {
  n: choices,
  stop: stopList.nullish(),
  maxTokens,
  temperature,
  topP,
  seed,
  presencePenalty: penalty,
  frequencyPenalty: penalty,
  extraJson: jsonText(jsonObject, "a JSON object").nullish(),
};
