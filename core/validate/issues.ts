// A zod failure as one 400 naming the field. The validator knows paths in the
// canonical request; each front says how a path reads in its own wire format
// (HTTP: `messages[0].role`, gRPC: `request.messages[0].role`), so the error
// names what the client actually sent.
import { z } from "zod";
import { BrokerError } from "../../contract/mod.js";

export type Path = readonly PropertyKey[];

/** How a front names a path of the canonical request in its own wire format. */
export type RenderParam = (path: Path) => string;

export function invalid(param: string | null, message: string): BrokerError {
  return new BrokerError("invalid_request", message, { param });
}

export function missing(param: string): BrokerError {
  return invalid(param, `Missing required parameter: '${param}'.`);
}

/** `a.b[0].c`: a path as OpenAI names a JSON field. */
export function jsonParam(path: Path): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`;
  return out;
}

/**
 * Runs a schema; a failure is the 400 for its first issue.
 * @throws BrokerError 400 `invalid_request` naming the field in `param`.
 */
export function check<S extends z.ZodType>(schema: S, value: unknown, render: RenderParam): z.infer<S> {
  // Without options first: passing any (reportInput, an error map) turns off zod's fast path,
  // which made validation cost twice as much per request. The rare failure is parsed again
  // with them, for the message and the input the 400 reports.
  const fast = schema.safeParse(value);
  if (fast.success) return fast.data;
  const parsed = schema.safeParse(value, { reportInput: true, error: describe });
  throw toBrokerError(parsed.success ? fast.error.issues : parsed.error.issues, render);
}

/** Params a custom issue may carry: `missing` reads "Missing required parameter", `full` is the whole message after the field. */
export interface IssueParams {
  missing?: boolean;
  full?: string;
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

function toBrokerError(issues: readonly Issue[], render: RenderParam): BrokerError {
  const first = issues[0];
  if (!first) return invalid(null, "Invalid request body.");
  const [issue, path] = meant(first, []);
  const param = render(path);
  const params: IssueParams = issue.code === "custom" ? (issue.params ?? {}) : {};
  if (params.missing || (issue.code === "invalid_type" && issue.input === undefined)) return missing(param);
  if (params.full) return invalid(param, `Invalid value for '${param}': ${params.full}`);
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
