import type { FastifyInstance } from "fastify";
import { BrokerError } from "../../../contract/mod.js";
import { bearerOf, type InferenceService, type ModelCatalog } from "../../../core/mod.js";

/** The models the caller's key may use; any other id is a 404, as if it did not exist. */
export function registerModelRoutes(app: FastifyInstance, catalog: ModelCatalog, service: InferenceService): void {
  app.get("/v1/models", async (req) => ({ object: "list", data: service.models(bearerOf(req.headers.authorization)) }));

  // Ids may contain "/" (org/model); the openai SDK sends it percent-encoded.
  app.get("/v1/models/*", async (req) => {
    const raw = (req.params as Record<string, string>)["*"] ?? "";
    let id: string;
    try {
      id = decodeURIComponent(raw);
    } catch {
      id = raw;
    }
    const card = service.visible(bearerOf(req.headers.authorization), id) ? catalog.card(id) : undefined;
    if (!card) throw new BrokerError("model_not_found", `The model '${id}' does not exist or you do not have access to it.`, { param: "model" });
    return card;
  });
}
