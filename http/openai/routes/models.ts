import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BrokerError } from "../../../contract/mod.js";
import { bearerOf, type InferenceService, type ModelCatalog } from "../../../core/mod.js";
import { sendAnthropicError } from "../../anthropic/errors.js";
import { keyOf } from "../../anthropic/key.js";
import { anthropicModel, anthropicModelPage } from "../../anthropic/models.js";

/** Anthropic's SDKs send `anthropic-version` on every call: such a caller gets Anthropic's shapes, errors included. */
const isAnthropic = (req: FastifyRequest): boolean => req.headers["anthropic-version"] !== undefined;

/** Runs `fn`; for an Anthropic caller, a BrokerError leaves in Anthropic's error shape. */
async function answer<T>(req: FastifyRequest, reply: FastifyReply, fn: () => T): Promise<T | FastifyReply> {
  try {
    return fn();
  } catch (e) {
    if (isAnthropic(req) && e instanceof BrokerError) return sendAnthropicError(reply, e);
    throw e;
  }
}

/** The models the caller's key may use; any other id is a 404, as if it did not exist. */
export function registerModelRoutes(app: FastifyInstance, catalog: ModelCatalog, service: InferenceService): void {
  app.get("/v1/models", async (req, reply) => answer(req, reply, () => {
    if (!isAnthropic(req)) return { object: "list", data: service.models(bearerOf(req.headers.authorization)) };
    return anthropicModelPage(service.models(keyOf(req.headers)), req.query as Record<string, unknown>);
  }));

  // Ids may contain "/" (org/model); the openai SDK sends it percent-encoded.
  app.get("/v1/models/*", async (req, reply) => answer(req, reply, () => {
    const raw = (req.params as Record<string, string>)["*"] ?? "";
    let id: string;
    try {
      id = decodeURIComponent(raw);
    } catch {
      id = raw;
    }
    const key = isAnthropic(req) ? keyOf(req.headers) : bearerOf(req.headers.authorization);
    const card = service.visible(key, id) ? catalog.card(id) : undefined;
    if (!card) throw new BrokerError("model_not_found", `The model '${id}' does not exist or you do not have access to it.`, { param: "model" });
    return isAnthropic(req) ? anthropicModel(card) : card;
  }));
}
