import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { UsageDay, usageCsv, type UsageLedger, type UsageRow } from "../../../access/mod.js";
import { check, invalid, jsonParam } from "../../../core/mod.js";

// Built once at boot. A repeated parameter arrives as an array and fails here, naming it.
const Query = z.object({
  from: UsageDay.optional(),
  to: UsageDay.optional(),
  key: z.string().min(1).max(256).optional(),
  model: z.string().min(1).max(1024).optional(),
  format: z.enum(["json", "csv"]).optional(),
});

/**
 * `GET /admin/usage`: requests and tokens per UTC day, key and model, from
 * the usage bucket, so every gateway answers the same. `format=csv` or
 * `Accept: text/csv` gives CSV; `format=json` wins over the header.
 */
export function registerUsageRoutes(app: FastifyInstance, usage: UsageLedger): void {
  app.get("/admin/usage", async (req, reply) => {
    const q = check(Query, req.query, jsonParam);
    if (q.from !== undefined && q.to !== undefined && q.from > q.to) throw invalid("to", `Invalid value for 'to': ${q.to} is before 'from' (${q.from}).`);
    const rows = await usage.query({ from: q.from, to: q.to, key: q.key, model: q.model });
    if (q.format === "csv" || (q.format === undefined && /\btext\/csv\b/i.test(req.headers.accept ?? ""))) {
      return reply.type("text/csv; charset=utf-8").send(usageCsv(rows));
    }
    return { object: "list", data: rows.map(toJson) };
  });
}

function toJson(r: UsageRow) {
  return {
    day: r.day,
    key_id: r.keyId,
    key_name: r.keyName,
    model: r.model,
    requests: r.requests,
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    total_tokens: r.promptTokens + r.completionTokens,
    errors: r.errors,
  };
}
