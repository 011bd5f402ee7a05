// The Responses API: POST /v1/responses, a translation onto the same core
// call as chat completions (routes, fallbacks, lanes, keys, limits and
// engines apply alike), and the stored responses behind GET, input_items
// and DELETE. Errors are OpenAI's, through the gateway's own handler.
import type { FastifyInstance } from "fastify";
import { bearerOf, invalid, type Guard } from "../../core/mod.js";
import { contextOf, routeHeader, type RouteDeps } from "../openai/respond.js";
import { assistantTurn } from "./conversation.js";
import { ResponseEvents } from "./events.js";
import { storedItems } from "./input.js";
import { pageOf } from "./input-items.js";
import { parseResponsesRequest, refuseBackground, toChatCall } from "./request.js";
import { collectResponse, streamResponse, type Save } from "./respond.js";
import type { Skeleton } from "./response-object.js";
import type { ResponseStore } from "./store.js";

export interface ResponsesDeps extends RouteDeps {
  store: ResponseStore;
}

interface ById {
  Params: { id: string };
}

export function registerResponsesRoutes(app: FastifyInstance, deps: ResponsesDeps): void {
  const { guard } = deps.service;

  app.post("/v1/responses", async (req, reply) => {
    const r = parseResponsesRequest(req.body);
    refuseBackground(r);
    const ctx = contextOf(deps, req, reply);
    // Checked before anything is read: a bad key is 401 whatever the body names.
    const owner = ownerOf(guard, ctx.bearer);
    const history = r.previousResponseId ? (await deps.store.get(r.previousResponseId, owner, "previous_response_id")).conversation : [];
    const a = await deps.service.chat(toChatCall(r, history, deps.limits), ctx);
    routeHeader(a, reply);
    const skeleton: Skeleton = { jobId: a.jobId, createdAt: Math.floor(Date.now() / 1000), model: a.target.publicId, echo: r.echo };
    const save: Save = async (response) => {
      if (!r.echo.store) return;
      await deps.store.put({ owner, response, input: storedItems(r.input, a.jobId), conversation: [...history, ...r.turn, ...assistantTurn(response)] });
    };
    if (!r.stream) return collectResponse(a, skeleton, reply, save);
    return streamResponse(a, req, reply, new ResponseEvents(skeleton), save);
  });

  app.get<ById>("/v1/responses/:id", async (req) => {
    // Replaying a stored stream comes with background responses.
    const q = (req.query ?? {}) as Record<string, unknown>;
    if (q.stream === "true") throw invalid("stream", "Streaming a stored response is not supported yet.");
    return (await deps.store.get(req.params.id, ownerOf(guard, bearerOf(req.headers.authorization)))).response;
  });

  app.get<ById>("/v1/responses/:id/input_items", async (req) => {
    const stored = await deps.store.get(req.params.id, ownerOf(guard, bearerOf(req.headers.authorization)));
    return pageOf(stored.input, req.query);
  });

  app.delete<ById>("/v1/responses/:id", async (req) => {
    await deps.store.delete(req.params.id, ownerOf(guard, bearerOf(req.headers.authorization)));
    return { id: req.params.id, object: "response", deleted: true };
  });
}

/** Whose a stored response is: the caller's key id, "" while auth is off. @throws BrokerError 401 for a bad key. */
function ownerOf(guard: Guard, bearer: string | undefined): string {
  return guard.enabled ? guard.caller(bearer).keyId : "";
}
