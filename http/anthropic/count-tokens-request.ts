// POST /v1/messages/count_tokens: the prompt fields of a Messages request,
// checked and mapped by the Messages request's own parser, so a count sees
// exactly the prompt that a call with the same fields would. Anthropic refuses
// max_tokens, stream and the sampling fields here, and so does this front.
// https://docs.anthropic.com/en/api/messages-count-tokens
import { invalid, type ChatCall, type InputLimits, type Valid } from "../../core/mod.js";
import { parseMessagesRequest } from "./messages-request.js";

const ACCEPTED: ReadonlySet<string> = new Set(["model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"]);

// The Messages parser requires max_tokens, which a count has no use for (engines never send it).
const ANY_MAX_TOKENS = 1;

/**
 * Validates a count_tokens body and maps it onto the job's ChatRequest,
 * checked by the core (the gateway's input limits included).
 * @throws BrokerError 400 `invalid_request` naming the field in `param`.
 */
export function parseCountTokensRequest(body: unknown, limits: InputLimits): Valid<ChatCall> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid(null, "The request body must be a JSON object.");
  }
  for (const key of Object.keys(body)) {
    if (!ACCEPTED.has(key)) throw invalid(key, `${key}: Extra inputs are not permitted`);
  }
  return parseMessagesRequest({ ...body, max_tokens: ANY_MAX_TOKENS }, limits);
}
