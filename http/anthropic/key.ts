import { bearerOf } from "../../core/mod.js";

/** The client's key as Anthropic's clients send it: `x-api-key`, else `Authorization: Bearer` (the SDK's authToken). */
export function keyOf(headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined {
  const key = headers["x-api-key"];
  return typeof key === "string" && key !== "" ? key : bearerOf(headers.authorization);
}
