// Anthropic's shape of the model list and of one model, for clients that send `anthropic-version`
// (the Anthropic SDKs send it on every call): `{data: [{type, id, display_name, created_at}],
// has_more, first_id, last_id}`, paged by `limit` (1–1000, default 20), `after_id` and `before_id`.
import { BrokerError } from "../../contract/mod.js";

export interface AnthropicModel {
  type: "model";
  id: string;
  display_name: string;
  created_at: string;
}

export function anthropicModel(m: { id: string; created: number }): AnthropicModel {
  return { type: "model", id: m.id, display_name: m.id, created_at: new Date(m.created * 1000).toISOString() };
}

/** One page of `models` as Anthropic lists it. @throws BrokerError 400 for a bad limit or an unknown cursor. */
export function anthropicModelPage(models: readonly { id: string; created: number }[], query: Readonly<Record<string, unknown>>) {
  const limit = query.limit === undefined ? 20 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new BrokerError("invalid_request", "limit: Input should be an integer from 1 to 1000", { param: "limit" });
  }
  const cursor = (name: "after_id" | "before_id"): number | undefined => {
    const id = query[name];
    if (id === undefined) return undefined;
    const at = models.findIndex((m) => m.id === id);
    if (at < 0) throw new BrokerError("invalid_request", `${name}: no model '${String(id)}' in the list`, { param: name });
    return at;
  };
  const after = cursor("after_id");
  const before = cursor("before_id");
  let from = after === undefined ? 0 : after + 1;
  let to = before === undefined ? models.length : before;
  let hasMore: boolean;
  if (before !== undefined && after === undefined) {
    // Paging backwards: the page just before the cursor.
    from = Math.max(0, to - limit);
    hasMore = from > 0;
  } else {
    hasMore = to - from > limit;
    to = Math.min(to, from + limit);
  }
  const data = models.slice(from, Math.max(from, to)).map(anthropicModel);
  return { data, has_more: hasMore, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null };
}
