// The Responses API: POST /v1/responses, a translation onto the same core
// call as chat completions (routes, fallbacks, lanes, keys, limits and
// engines apply alike), and the stored responses behind GET, input_items
// and DELETE. Errors are OpenAI's, through the gateway's own handler.
import { nuid } from "@nats-io/transport-node";
import type { FastifyInstance } from "fastify";
import { bearerOf, invalid, type Guard } from "../../core/mod.js";
import { contextOf, routeHeader, type RouteDeps } from "../openai/respond.js";
import { assistantTurn } from "./conversation.js";
import { ResponseEvents } from "./events.js";
import { storedItems } from "./input.js";
import { pageOf } from "./input-items.js";
import { backgroundOf, cancelBackground, refresh, startBackground, streamBackground } from "./background.js";
import { parseResponsesRequest, toChatCall } from "./request.js";
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
    const ctx = contextOf(deps, req, reply);
    // Checked before anything is read: a bad key is 401 whatever the body names.
    const owner = ownerOf(guard, ctx.bearer);
    const history = r.previousResponseId
      ? (await refresh(deps.service.background, deps.store, await deps.store.get(r.previousResponseId, owner, "previous_response_id"))).conversation
      : [];
    const call = toChatCall(r, history, deps.limits);
    if (r.background) {
      const bg = backgroundOf(deps.service.background);
      const key = nuid.next();
      const createdAt = Math.floor(Date.now() / 1000);
      const stored = await startBackground(bg, deps.store, key, call, ctx, (model) => ({
        owner, input: storedItems(r.input, key), conversation: [...history, ...r.turn],
        skeleton: { jobId: key, createdAt, model, echo: r.echo, background: true },
      }));
      if (r.stream) return streamBackground(bg, stored, -1, req, reply);
      return stored.response;
    }
    const a = await deps.service.chat(call, ctx);
    routeHeader(a, reply);
    const skeleton: Skeleton = { jobId: a.jobId, createdAt: Math.floor(Date.now() / 1000), model: a.target.publicId, echo: r.echo };
    const save: Save = async (response) => {
      if (!r.echo.store) return;
      await deps.store.put({ owner, response, input: storedItems(r.input, a.jobId), conversation: [...history, ...r.turn, ...assistantTurn(response)] });
    };
    if (!r.stream) return collectResponse(a, skeleton, reply, save);
    return streamResponse(a, req, reply, new ResponseEvents(skeleton), save);
  });

  app.get<ById>("/v1/responses/:id", async (req, reply) => {
    const q = (req.query ?? {}) as Record<string, unknown>;
    const stored = await deps.store.get(req.params.id, ownerOf(guard, bearerOf(req.headers.authorization)));
    if (q.stream === "true" || q.stream === true) {
      return streamBackground(backgroundOf(deps.service.background), stored, startingAfter(q.starting_after), req, reply);
    }
    return (await refresh(deps.service.background, deps.store, stored)).response;
  });

  // Idempotent, as OpenAI's: a response that already ended is answered as it ended.
  app.post<ById>("/v1/responses/:id/cancel", async (req) => {
    const stored = await deps.store.get(req.params.id, ownerOf(guard, bearerOf(req.headers.authorization)));
    return cancelBackground(deps.service.background, deps.store, stored);
  });

  app.get<ById>("/v1/responses/:id/input_items", async (req) => {
    const stored = await deps.store.get(req.params.id, ownerOf(guard, bearerOf(req.headers.authorization)));
    return pageOf(stored.input, req.query);
  });

  app.delete<ById>("/v1/responses/:id", async (req) => {
    const owner = ownerOf(guard, bearerOf(req.headers.authorization));
    const stored = await deps.store.get(req.params.id, owner);
    // A background response still running would go on for nobody: it is cancelled first.
    if (stored.skeleton) await cancelBackground(deps.service.background, deps.store, stored);
    await deps.store.delete(req.params.id, owner);
    return { id: req.params.id, object: "response", deleted: true };
  });
}

/** Whose a stored response is: the caller's key id, "" while auth is off. @throws BrokerError 401 for a bad key. */
function ownerOf(guard: Guard, bearer: string | undefined): string {
  return guard.enabled ? guard.caller(bearer).keyId : "";
}

/** `starting_after`: the last event number the client has (-1 when absent: every event). @throws 400 for anything but a non-negative integer. */
function startingAfter(v: unknown): number {
  if (v === undefined || v === "") return -1;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isInteger(n) || n < 0) throw invalid("starting_after", "starting_after must be a non-negative integer: the sequence_number of the last event you have.");
  return n;
}
