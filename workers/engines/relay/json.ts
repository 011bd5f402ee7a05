// The one set of helpers for untyped JSON, from the job (fields the facade
// passed through as JSON text) and from the upstream (answers and events).
import { BrokerError } from "../../../contract/mod.js";

export type Json = Record<string, unknown>;

/** A JSON object, else undefined (arrays and null are not objects here). */
export const obj = (v: unknown): Json | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
/** Any string, "" included: text deltas may be empty. */
export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
/** A string with something in it: error fields where "" means absent. */
export const nonEmpty = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
export const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** Text as JSON, or undefined when it is not JSON (an HTML error page, nothing). */
export function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * A JSON field of the job (tools, tool_choice, ...). The facade wrote these
 * strings, so a parse failure means a malformed job, reported as the client's field.
 */
export function jobJson(text: string, param?: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BrokerError("invalid_request", `${param ?? "the request's extra fields"}: not valid JSON`, { param });
  }
}

/** The client's fields the broker does not model (extraJson), as an object; {} when none. */
export function extraFields(extraJson: string | null | undefined): Json {
  if (!extraJson) return {};
  const extra = obj(jobJson(extraJson));
  if (!extra) throw new BrokerError("invalid_request", "the request's extra fields are not a JSON object");
  return extra;
}

/** A whole upstream answer (not an error) as JSON. */
export function upstreamJson(text: string, host: string): unknown {
  const v = jsonOrUndefined(text);
  if (v === undefined) throw new BrokerError("upstream_error", `the upstream at ${host} answered with something that is not JSON`);
  return v;
}

/** A stream event's parsed data, which must be an object. */
export function eventObject(v: unknown, host: string): Json {
  const o = obj(v);
  if (!o) throw new BrokerError("upstream_error", `the upstream at ${host} sent a stream event that is not a JSON object`);
  return o;
}
