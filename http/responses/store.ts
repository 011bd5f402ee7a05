// Stored responses, in the `<prefix>-responses` KV bucket (never a gateway's
// memory, so every replica answers alike), one entry per response: the
// response object, its input items (input_items), the conversation a
// previous_response_id continues, and the key that owns it. The bucket's TTL
// is config responses.retentionMs.
import { z } from "zod";
import { BrokerError, type ChatMessage } from "../../contract/mod.js";
import type { KV } from "../../nats/mod.js";
import type { StoredItem } from "./input.js";
import { RESPONSE_ID, type ResponseObject, type Skeleton } from "./response-object.js";

/** One stored response. */
export interface StoredResponse {
  /** The key id that created it ("" while auth is off): no other key may see it. */
  owner: string;
  response: ResponseObject;
  input: StoredItem[];
  /**
   * The whole conversation up to and including this response's output, in
   * canonical messages, without instructions (OpenAI does not carry them over).
   */
  conversation: ChatMessage[];
  /**
   * A background response's skeleton: its job's event log replays through it
   * (ResponseEvents) into the response and its stream, from any gateway.
   */
  skeleton?: Skeleton;
}

// What comes back out of the bucket is checked like any input: a value
// written by something else is "not found", not a crash.
const object = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const Stored = z.object({
  owner: z.string(),
  response: z.custom<ResponseObject>((v) => object(v) && typeof v.id === "string" && v.object === "response"),
  input: z.array(z.custom<StoredItem>((v) => object(v) && typeof v.id === "string" && typeof v.type === "string")),
  conversation: z.array(z.custom<ChatMessage>((v) => object(v) && typeof v.role === "string")),
  skeleton: z.custom<Skeleton>((v) => object(v) && typeof v.jobId === "string" && object(v.echo)).optional(),
});

/** 404 in OpenAI's words; `param` names the field that carried the id, when a body did. */
export function responseNotFound(id: string, param: string | null = null): BrokerError {
  return new BrokerError("response_not_found", `Response with id '${id}' not found.`, { param });
}

export class ResponseStore {
  constructor(private readonly kv: KV) {}

  /** Stores (or replaces) a response. */
  async put(r: StoredResponse): Promise<void> {
    await this.kv.put(r.response.id, JSON.stringify(r));
  }

  /**
   * The response, when it exists and belongs to `owner`; another key's is
   * not found either, so ids cannot be probed.
   * @throws BrokerError 404 response_not_found.
   */
  async get(id: string, owner: string, param: string | null = null): Promise<StoredResponse> {
    // Ids are ours (resp_ and the job id), so anything else is unknown without asking NATS; also a valid KV key.
    if (!RESPONSE_ID.test(id)) throw responseNotFound(id, param);
    const e = await this.kv.get(id);
    if (!e || e.operation !== "PUT") throw responseNotFound(id, param);
    const r = decode(e.string());
    if (!r || r.owner !== owner) throw responseNotFound(id, param);
    return r;
  }

  /** Deletes the owner's response. @throws BrokerError 404 when there is none. */
  async delete(id: string, owner: string): Promise<void> {
    await this.get(id, owner);
    await this.kv.delete(id);
  }
}

function decode(text: string): StoredResponse | undefined {
  try {
    const r = Stored.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
