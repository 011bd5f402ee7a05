// The Responses API's streamed events, computed from a job's events by a pure,
// deterministic state machine: the same skeleton and the same deltas, final or
// error always give the same events with the same sequence numbers and the
// same response snapshot. Nothing here knows HTTP, so a stored log of a job's
// chunks can be replayed through it to recompute a stream or a response.
// https://platform.openai.com/docs/api-reference/responses-streaming
import type { BrokerError, Delta, Final } from "../../contract/mod.js";
import {
  ids, usageOf, type ContentPart, type FunctionCallItem, type ItemStatus, type MessageItem, type OutputItem,
  type ResponseError, type ResponseObject, type ResponseStatus, type ResponseUsage, type Skeleton,
} from "./response-object.js";

type Lifecycle = "response.created" | "response.in_progress" | "response.completed" | "response.incomplete" | "response.failed";

interface ItemRef {
  sequence_number: number;
  item_id: string;
  output_index: number;
}

interface PartRef extends ItemRef {
  content_index: number;
}

/** One event of a Responses stream, as OpenAI sends it in `data:` (its `type` is also the SSE `event:`). */
export type ResponseEvent =
  | { type: Lifecycle; sequence_number: number; response: ResponseObject }
  | { type: "response.output_item.added" | "response.output_item.done"; sequence_number: number; output_index: number; item: OutputItem }
  | (PartRef & { type: "response.content_part.added" | "response.content_part.done"; part: ContentPart })
  | (PartRef & { type: "response.output_text.delta"; delta: string; logprobs: never[] })
  | (PartRef & { type: "response.output_text.done"; text: string; logprobs: never[] })
  | (PartRef & { type: "response.refusal.delta"; delta: string })
  | (PartRef & { type: "response.refusal.done"; refusal: string })
  | (ItemRef & { type: "response.function_call_arguments.delta"; delta: string })
  | (ItemRef & { type: "response.function_call_arguments.done"; arguments: string })
  | { type: "error"; sequence_number: number; code: string; message: string; param: string | null };

type PartKind = ContentPart["type"];

// An output item while it is built: strings grow, nothing is copied per delta.
interface Building {
  open: boolean;
  item: MessageItem | FunctionCallItem;
  /** A message's content parts so far; the last one is open while the item is. */
  parts: { kind: PartKind; text: string }[];
}

const part = (kind: PartKind, text: string): ContentPart =>
  kind === "refusal" ? { type: "refusal", refusal: text } : { type: "output_text", text, annotations: [], logprobs: [] };

/**
 * Turns a job's events into Responses events. Call opening() first (deltas,
 * final and failed open the stream themselves when it was not), then
 * deltas() per batch, then one of final() or failed(). snapshot() is the
 * response as of the last call. Only choice 0 counts: the Responses API has no `n`.
 */
export class ResponseEvents {
  private seq = 0;
  private opened = false;
  private status: ResponseStatus;
  private readonly items: Building[] = [];
  /** The message item text goes to while it is open; -1 when none is. */
  private message = -1;
  /** The output index of each tool call, by the job's tool call index. */
  private readonly calls = new Map<number, number>();
  private finishReason = "";
  private usage: ResponseUsage | null = null;
  private error: ResponseError | null = null;

  constructor(private readonly skeleton: Skeleton) {
    // A background response waits in the queue until its stream opens (its job's log is read).
    this.status = skeleton.background ? "queued" : "in_progress";
  }

  get id(): string {
    return ids.response(this.skeleton.jobId);
  }

  /** response.created and response.in_progress; nothing once the stream is open. */
  opening(): ResponseEvent[] {
    if (this.opened) return [];
    this.opened = true;
    const created = this.lifecycle("response.created");
    this.status = "in_progress";
    return [created, this.lifecycle("response.in_progress")];
  }

  /** The events for a batch of the job's deltas. */
  deltas(batch: Delta[]): ResponseEvent[] {
    const out = this.opening();
    for (const d of batch) {
      if ((d.index ?? 0) !== 0 || this.status !== "in_progress") continue;
      if (d.content) this.text("output_text", d.content, out);
      if (d.refusal) this.text("refusal", d.refusal, out);
      for (const t of d.toolCalls ?? []) this.toolCall(t.index ?? 0, t.id ?? "", t.name ?? "", t.arguments ?? "", out);
      if (d.finishReason) this.finishReason = d.finishReason;
    }
    return out;
  }

  /** Closes every open item and ends with response.completed, or response.incomplete for a cut answer. */
  final(f: Final): ResponseEvent[] {
    const out = this.opening();
    if (this.status !== "in_progress") return out;
    const cut = this.finishReason === "length" || this.finishReason === "content_filter";
    this.closeAll(cut ? "incomplete" : "completed", out);
    this.usage = usageOf(f);
    this.status = cut ? "incomplete" : "completed";
    out.push(this.lifecycle(cut ? "response.incomplete" : "response.completed"));
    return out;
  }

  /**
   * A job that failed once the stream was open: OpenAI's `error` event, then
   * response.failed with the error in the response. Open items stay unfinished.
   */
  failed(e: BrokerError): ResponseEvent[] {
    const out = this.opening();
    if (this.status !== "in_progress") return out;
    for (const b of this.items) if (b.open) this.settle(b, "incomplete");
    this.status = "failed";
    this.error = { code: errorCode(e.status), message: e.message };
    out.push({ type: "error", sequence_number: this.seq++, code: e.wireCode, message: e.message, param: e.param });
    out.push(this.lifecycle("response.failed"));
    return out;
  }

  /**
   * A background response cancelled (POST /v1/responses/{id}/cancel):
   * open items end incomplete and the status says cancelled. OpenAI's
   * stream has no event for it: the stream just ends.
   */
  cancelled(): ResponseEvent[] {
    if (this.status !== "in_progress" && this.status !== "queued") return [];
    for (const b of this.items) if (b.open) this.settle(b, "incomplete");
    this.status = "cancelled";
    return [];
  }

  /** The response as of now: partial output while in progress, the whole of it once done. */
  snapshot(): ResponseObject {
    const { jobId, createdAt, model, echo } = this.skeleton;
    const reason = this.finishReason === "content_filter" ? "content_filter" : "max_output_tokens";
    return {
      id: ids.response(jobId),
      object: "response",
      created_at: createdAt,
      status: this.status,
      background: this.skeleton.background ?? false,
      error: this.error,
      incomplete_details: this.status === "incomplete" ? { reason } : null,
      ...echo,
      text: { format: { ...echo.text.format } },
      tools: echo.tools.map((t) => ({ ...t })),
      metadata: { ...echo.metadata },
      max_tool_calls: null,
      model,
      output: this.items.map((b) => this.itemNow(b)),
      reasoning: { effort: null, summary: null },
      truncation: "disabled",
      usage: this.usage,
    };
  }

  // Text or refusal text goes to the open message's last part, when of its kind; else a new part
  // begins. The hot path of a stream: one event object per delta, nothing else allocated.
  private text(kind: PartKind, delta: string, out: ResponseEvent[]): void {
    let b = this.items[this.message];
    if (!b?.open) b = this.openMessage(out);
    let p = b.parts[b.parts.length - 1];
    if (p?.kind !== kind) p = this.openPart(b, kind, out);
    p.text += delta;
    const item_id = b.item.id;
    const content_index = b.parts.length - 1;
    out.push(kind === "output_text"
      ? { type: "response.output_text.delta", sequence_number: this.seq++, item_id, output_index: this.message, content_index, delta, logprobs: [] }
      : { type: "response.refusal.delta", sequence_number: this.seq++, item_id, output_index: this.message, content_index, delta });
  }

  private openPart(b: Building, kind: PartKind, out: ResponseEvent[]): { kind: PartKind; text: string } {
    if (b.parts.length > 0) this.closePart(b, this.message, out);
    const p = { kind, text: "" };
    const content_index = b.parts.push(p) - 1;
    out.push({ type: "response.content_part.added", sequence_number: this.seq++, item_id: b.item.id, output_index: this.message, content_index, part: part(kind, "") });
    return p;
  }

  private openMessage(out: ResponseEvent[]): Building {
    const n = this.items.filter((b) => b.item.type === "message").length;
    const item: MessageItem = { id: ids.message(this.skeleton.jobId, n), type: "message", status: "in_progress", role: "assistant", content: [] };
    const b: Building = { open: true, item, parts: [] };
    this.message = this.items.push(b) - 1;
    out.push({ type: "response.output_item.added", sequence_number: this.seq++, output_index: this.message, item: this.itemNow(b) });
    return b;
  }

  // The done events of a message's last part.
  private closePart(b: Building, index: number, out: ResponseEvent[]): void {
    const content_index = b.parts.length - 1;
    const p = b.parts[content_index];
    if (!p) return;
    const ref = { item_id: b.item.id, output_index: index, content_index };
    out.push(p.kind === "refusal"
      ? { type: "response.refusal.done", sequence_number: this.seq++, ...ref, refusal: p.text }
      : { type: "response.output_text.done", sequence_number: this.seq++, ...ref, text: p.text, logprobs: [] });
    out.push({ type: "response.content_part.done", sequence_number: this.seq++, ...ref, part: part(p.kind, p.text) });
  }

  // A call's id, type and name come on its first delta; later ones carry argument text.
  // A call closes only at the end: engines may interleave parallel calls' deltas.
  private toolCall(index: number, callId: string, name: string, args: string, out: ResponseEvent[]): void {
    let at = this.calls.get(index);
    if (at === undefined) {
      // A message before the call is finished: OpenAI's items come one after another.
      const m = this.items[this.message];
      if (m?.open) this.close(m, this.message, "completed", out);
      const n = this.calls.size;
      const item: FunctionCallItem = {
        id: ids.functionCall(this.skeleton.jobId, n), type: "function_call", status: "in_progress",
        call_id: callId || ids.callId(this.skeleton.jobId, n), name, arguments: "",
      };
      at = this.items.push({ open: true, item, parts: [] }) - 1;
      this.calls.set(index, at);
      out.push({ type: "response.output_item.added", sequence_number: this.seq++, output_index: at, item: { ...item } });
    }
    const b = this.items[at];
    if (b?.item.type !== "function_call") return;
    if (!b.item.name && name) b.item.name = name;
    if (!args) return;
    b.item.arguments += args;
    out.push({ type: "response.function_call_arguments.delta", sequence_number: this.seq++, item_id: b.item.id, output_index: at, delta: args });
  }

  private closeAll(status: ItemStatus, out: ResponseEvent[]): void {
    this.items.forEach((b, i) => {
      if (b.open) this.close(b, i, status, out);
    });
  }

  private close(b: Building, index: number, status: ItemStatus, out: ResponseEvent[]): void {
    if (b.item.type === "message") this.closePart(b, index, out);
    else out.push({ type: "response.function_call_arguments.done", sequence_number: this.seq++, item_id: b.item.id, output_index: index, arguments: b.item.arguments });
    this.settle(b, status);
    out.push({ type: "response.output_item.done", sequence_number: this.seq++, output_index: index, item: this.itemNow(b) });
  }

  private settle(b: Building, status: ItemStatus): void {
    b.open = false;
    b.item.status = status;
  }

  // A copy, so events already handed out never change.
  private itemNow(b: Building): OutputItem {
    if (b.item.type === "function_call") return { ...b.item };
    return { ...b.item, content: b.parts.map((p) => part(p.kind, p.text)) };
  }

  private lifecycle(type: Lifecycle): ResponseEvent {
    return { type, sequence_number: this.seq++, response: this.snapshot() };
  }
}

/** A broker error as the nearest of OpenAI's closed list of response error codes. */
function errorCode(status: number): ResponseError["code"] {
  if (status === 429) return "rate_limit_exceeded";
  if (status === 400) return "invalid_prompt";
  return "server_error";
}
