// Validation shared by every OpenAI endpoint: schema helpers whose errors read
// like OpenAI's ("Invalid value for 'temperature': expected a number between 0
// and 2."), and the mapping of a zod failure onto a 400 that names the field.
import { z } from "zod";
import { BrokerError } from "../broker/errors.js";

// Every schema names what it expects in its `error`, so a failure reads
// "Invalid value for 'temperature': expected a number between 0 and 2."
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

export const stopSchema = z
  .union([z.string(), z.array(z.string()).max(4, { error: "at most 4 stop sequences" })], {
    error: "a string or an array of up to 4 strings",
  })
  .nullish();

export function toStop(stop: string | string[] | null | undefined): string[] {
  if (stop == null) return [];
  // OpenAI ignores empty stop strings; engines may treat "" as "stop at once".
  return (typeof stop === "string" ? [stop] : stop).filter((s) => s !== "");
}

/**
 * Validates a JSON body against an endpoint's schema.
 * @throws BrokerError 400 `invalid_request` naming the field in `param`.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BrokerError("invalid_request", "The request body must be a JSON object.");
  }
  const parsed = schema.safeParse(body, { reportInput: true, error: describe });
  if (!parsed.success) throw toBrokerError(parsed.error.issues);
  return parsed.data;
}

/**
 * OpenAI accepts prompts and inputs as token ids too; they only mean
 * something to the tokenizer that made them, which the gateway cannot know.
 */
export function rejectTokenIds(body: unknown, field: string): void {
  const v = (body as Record<string, unknown> | null)?.[field];
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

// The fallback description for schemas that do not name their own.
function describe(iss: z.core.$ZodRawIssue): string {
  switch (iss.code) {
    case "invalid_type":
      return `${/^[aeiou]/.test(iss.expected) ? "an" : "a"} ${iss.expected}`;
    case "invalid_value":
      return iss.values.length === 1 ? `'${String(iss.values[0])}'` : `one of ${iss.values.map((v) => `'${String(v)}'`).join(", ")}`;
    case "too_small":
      return `at least ${iss.minimum} ${iss.origin === "array" ? "items" : iss.origin === "string" ? "characters" : ""}`.trim();
    case "too_big":
      return `at most ${iss.maximum} ${iss.origin === "array" ? "items" : iss.origin === "string" ? "characters" : ""}`.trim();
    default:
      return "a valid value";
  }
}

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];

function toBrokerError(issues: readonly Issue[]): BrokerError {
  const first = issues[0];
  if (!first) return invalid(null, "Invalid request body.");
  const [issue, path] = meant(first, []);
  const param = toParam(path);
  if (issue.code === "invalid_type" && issue.input === undefined) return missing(param);
  return invalid(param, `Invalid value for '${param}': expected ${issue.message}.`);
}

// A failed union reports every option's issues. The option the client meant
// is the first whose base type and `type` discriminator matched the input;
// its own first issue is the precise one (e.g. `content[1].image_url.url`).
// With none, the union's own description is the message.
function meant(issue: Issue, base: Path): [Issue, Path] {
  const path = [...base, ...issue.path];
  if (issue.code !== "invalid_union") return [issue, path];
  const option = issue.errors.find((errs) => !errs.some(wrongVariant));
  const next = option?.[0];
  return next ? meant(next, path) : [issue, path];
}

function wrongVariant(i: Issue): boolean {
  if (i.path.length === 0) {
    // An enum given an object fails with invalid_value, not invalid_type.
    return i.code === "invalid_type" || (i.code === "invalid_value" && !i.values.some((v) => typeof v === typeof i.input));
  }
  return i.path.length === 1 && i.path[0] === "type" && (i.code === "invalid_value" || i.code === "custom");
}

function toParam(path: Path): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`;
  return out;
}

export function invalid(param: string | null, message: string): BrokerError {
  return new BrokerError("invalid_request", message, { param });
}

export function missing(param: string): BrokerError {
  return invalid(param, `Missing required parameter: '${param}'.`);
}
