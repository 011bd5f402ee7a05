import type { FastifyInstance } from "fastify";
import { BrokerError } from "../../../contract/mod.js";
import type { ModelCatalog } from "../../../core/mod.js";

export function registerModelRoutes(app: FastifyInstance, catalog: ModelCatalog): void {
  app.get("/v1/models", async () => ({ object: "list", data: catalog.list() }));

  // Ids may contain "/" (org/model); the openai SDK sends it percent-encoded.
  app.get("/v1/models/*", async (req) => {
    const raw = (req.params as Record<string, string>)["*"] ?? "";
    let id: string;
    try {
      id = decodeURIComponent(raw);
    } catch {
      id = raw;
    }
    const card = catalog.card(id);
    if (!card) throw new BrokerError("model_not_found", `The model '${id}' does not exist or you do not have access to it.`, { param: "model" });
    return card;
  });
}
