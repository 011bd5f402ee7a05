// GET /v1/responses/{id}/input_items: a stored response's input items, one
// cursor page at a time, as OpenAI pages lists: `limit` (1–100, default 20),
// `order` (default desc: newest first), `after` / `before` an item id.
// https://platform.openai.com/docs/api-reference/responses/input-items
import { z } from "zod";
import { check, invalid, jsonParam } from "../../core/mod.js";
import type { StoredItem } from "./input.js";

const limit = "an integer between 1 and 100";
const query = z.looseObject({
  limit: z.coerce.number({ error: limit }).int({ error: limit }).min(1, { error: limit }).max(100, { error: limit }).default(20),
  order: z.enum(["asc", "desc"], { error: "'asc' or 'desc'" }).default("desc"),
  after: z.string().optional(),
  before: z.string().optional(),
  // Which extra fields to include: the stored items have no more to give.
  include: z.unknown().optional(),
});

export interface ItemPage {
  object: "list";
  data: StoredItem[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/**
 * One page of `items` (stored oldest first) for a query string.
 * @throws BrokerError 400 for a bad parameter or a cursor that is not one of the items.
 */
export function pageOf(items: readonly StoredItem[], q: unknown): ItemPage {
  const p = check(query, q ?? {}, jsonParam);
  const ordered = p.order === "asc" ? [...items] : [...items].reverse();
  let from = 0;
  let to = ordered.length;
  if (p.after !== undefined) from = cursor(ordered, p.after, "after") + 1;
  if (p.before !== undefined) to = cursor(ordered, p.before, "before");
  // `before` alone pages backwards: the `limit` items just before the cursor.
  if (p.before !== undefined && p.after === undefined) from = Math.max(0, to - p.limit);
  const data = ordered.slice(from, Math.max(from, Math.min(to, from + p.limit)));
  return {
    object: "list",
    data,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
    has_more: p.before !== undefined && p.after === undefined ? from > 0 : from + data.length < to,
  };
}

function cursor(items: readonly StoredItem[], id: string, param: string): number {
  const i = items.findIndex((it) => it.id === id);
  if (i < 0) throw invalid(param, `No input item with id '${id}' in this response.`);
  return i;
}
