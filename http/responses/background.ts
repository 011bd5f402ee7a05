// Background responses: `background: true` queues the job as a detached job
// (core Background, jobs/detached.ts) and answers at once. The job's event
// log in JetStream is the response's one source of truth: GET folds it into
// the response, `?stream=true&starting_after=N` replays its events after N
// and follows live ones, cancel writes its ending; any gateway replica, or a
// new process after a restart, computes the same response and the same event
// numbers, because ResponseEvents is a pure function of the log.
import type { FastifyReply, FastifyRequest } from "fastify";
import { BrokerError, type ChatRequest } from "../../contract/mod.js";
import { invalid, type Background, type CallContext } from "../../core/mod.js";
import { DetachedFold } from "../../jobs/mod.js";
import { toBrokerError } from "../openai/errors.js";
import { startSse, writeSse } from "../openai/sse.js";
import { assistantTurn } from "./conversation.js";
import { ResponseEvents, type ResponseEvent } from "./events.js";
import type { ResponseObject, Skeleton } from "./response-object.js";
import { sseOf } from "./sse.js";
import type { ResponseStore, StoredResponse } from "./store.js";

/** A response that has not ended: its stored copy is refreshed from its job's log. */
const isOpen = (r: ResponseObject): boolean => r.status === "queued" || r.status === "in_progress";

/** The core's background jobs, or a 400 when this gateway has none (it always has, when built by startGateway). */
export function backgroundOf(b: Background | undefined): Background {
  if (!b) throw invalid("background", "Background responses are not available on this gateway.");
  return b;
}

/**
 * Queues the job under `key` (the response id without its prefix, so its
 * log is found from the id alone) and stores the response as queued; the
 * route target's public id names the model.
 */
export async function startBackground(
  bg: Background, store: ResponseStore, key: string, call: { model: string; chat: ChatRequest },
  ctx: Omit<CallContext, "signal" | "timeoutMs">, make: (model: string) => Omit<StoredResponse, "response"> & { skeleton: Skeleton },
): Promise<StoredResponse> {
  const target = await bg.start(key, call.model, { chat: call.chat }, ctx);
  const parts = make(target.publicId);
  const r: StoredResponse = { ...parts, response: new ResponseEvents(parts.skeleton).snapshot() };
  await store.put(r);
  return r;
}

/**
 * The stored response brought up to date from its job's log (a finished one
 * is stored back whole, with its answer in the conversation, so later reads
 * and previous_response_id need no log). Responses not in the background,
 * or already over, come back as stored.
 */
export async function refresh(bg: Background | undefined, store: ResponseStore, r: StoredResponse): Promise<StoredResponse> {
  if (!r.skeleton || !isOpen(r.response) || !bg) return r;
  const fold = new DetachedFold();
  const events = new ResponseEvents(r.skeleton);
  await replay(bg, r.skeleton, fold, events, { live: false }, () => undefined);
  // No log at all: it aged out (background.eventRetentionMs) before anyone read its end.
  if (fold.lastSeq === 0) events.failed(new BrokerError("stream_interrupted", "The response's events are no longer kept (background.eventRetentionMs); its end is unknown."));
  const response = events.snapshot();
  if (!isOpen(response)) {
    const done: StoredResponse = { ...r, response, conversation: [...r.conversation, ...assistantTurn(response)] };
    await store.put(done);
    return done;
  }
  return { ...r, response };
}

/** Cancels a background response (idempotent) and returns it as it now stands. @throws 400 for one not in the background. */
export async function cancelBackground(bg: Background | undefined, store: ResponseStore, r: StoredResponse): Promise<ResponseObject> {
  if (!r.skeleton) throw invalid(null, "Only responses created with background set to true can be cancelled.");
  if (isOpen(r.response)) await backgroundOf(bg).owner.cancel(r.skeleton.jobId);
  return (await refresh(bg, store, r)).response;
}

/**
 * Feeds the job's events through `events` in log order, handing each batch
 * of Responses events to `emit`: the opening once the job runs (a queued
 * job's response stays queued), the answer, then its end.
 */
async function replay(
  bg: Background, skeleton: Skeleton, fold: DetachedFold, events: ResponseEvents,
  opts: { live: boolean; signal?: AbortSignal }, emit: (batch: ResponseEvent[]) => Promise<void> | undefined,
): Promise<void> {
  let opened = false;
  const open = async (): Promise<void> => {
    if (opened) return;
    opened = true;
    await emit(events.opening());
  };
  // A live stream opens at once, as a foreground one does; a snapshot only once the job runs.
  if (opts.live) await open();
  for await (const ev of bg.owner.events(skeleton.jobId, fold, opts)) {
    await open();
    if (ev.kind === "deltas") await emit(events.deltas(ev.items));
    else if (ev.kind === "final") await emit(events.final(ev.final));
  }
  if (fold.run && !fold.over) await open();
  if (fold.error?.code === "cancelled") {
    events.cancelled();
  } else if (fold.error) {
    await open();
    await emit(events.failed(fold.error));
  } else if (!fold.final && opts.live && !opts.signal?.aborted) {
    // The log ended without an ending (its retention dropped it, or its deadline passed unnoticed).
    await emit(events.failed(new BrokerError("stream_interrupted", "The response's events ended without its end.")));
  }
}

/**
 * Streams a background response's events after sequence number `after`
 * (-1: all), then follows live ones to its end. The client leaving stops
 * the stream, never the job.
 */
export async function streamBackground(bg: Background, r: StoredResponse, after: number, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const skeleton = r.skeleton;
  if (!skeleton) throw invalid("stream", "Only background responses can be streamed again.");
  const res = reply.raw;
  const gone = new AbortController();
  res.once("close", () => gone.abort());
  const held = reply.getHeaders();
  reply.hijack();
  startSse(res, req.id, held);
  const emit = (batch: ResponseEvent[]): Promise<void> | undefined => {
    const fresh = after < 0 ? batch : batch.filter((e) => e.sequence_number > after);
    if (fresh.length === 0 || res.destroyed) return undefined;
    const w = writeSse(res, sseOf(fresh));
    return w?.then(() => undefined);
  };
  try {
    await replay(bg, skeleton, new DetachedFold(), new ResponseEvents(skeleton), { live: true, signal: gone.signal }, emit);
  } catch (e) {
    if (!res.destroyed) {
      const err = toBrokerError(e, req);
      const w = writeSse(res, `event: error\ndata: ${JSON.stringify({ type: "error", code: err.wireCode, message: err.message, param: err.param })}\n\n`);
      if (w) await w;
    }
  }
  res.end();
}
