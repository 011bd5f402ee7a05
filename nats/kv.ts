// KV buckets the broker keeps its shared state in (keys, limits, usage, stored responses).
// Looked up first and created only when missing, as for the job stream's
// consumers: a live bucket's settings are not changed from under the others.
import { JetStreamApiCodes, JetStreamApiError, jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../ops/mod.js";
import { MoreJetStreamApiCodes } from "./jetstream.js";

export type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";

export interface BucketOptions {
  /** Copies of the bucket in a NATS cluster (config queue.replicas, as for the jobs stream). */
  replicas: number;
  /** Values older than this are removed (0: kept). */
  ttlMs?: number;
  /** Values kept per key (1: only the latest). */
  history?: number;
  /** Told how a live bucket differs from these options (it is kept as it is). */
  log?: Logger;
  /** The JetStream domain (config nats.jsDomain), through a leaf node. */
  domain?: string;
}

/** The broker's buckets: the gateways' alone (nats/roles.ts grants them to the gateway role). */
export const BUCKETS = ["keys", "limits", "usage", "responses"] as const;
export type BucketKind = (typeof BUCKETS)[number];

/** The name of one of the broker's buckets under a subject prefix: `<prefix>-<what>`. */
export function bucketName(prefix: string, what: BucketKind): string {
  return `${prefix}-${what}`;
}

/** Opens the bucket, creating it when missing (whichever process comes first). */
export async function openBucket(nc: NatsConnection, name: string, opts: BucketOptions): Promise<KV> {
  const kvm = new Kvm(opts.domain ? jetstream(nc, { domain: opts.domain }) : nc);
  try {
    const kv = await kvm.open(name);
    const st = await kv.status();
    const drift = [
      st.replicas !== opts.replicas && `replicas: ${st.replicas} → ${opts.replicas}`,
      st.ttl !== (opts.ttlMs ?? 0) && `ttl_ms: ${st.ttl} → ${opts.ttlMs ?? 0}`,
      st.history !== (opts.history ?? 1) && `history: ${st.history} → ${opts.history ?? 1}`,
    ].filter((d): d is string => typeof d === "string");
    // Reported, not applied, as for the jobs stream: others share the bucket.
    if (drift.length > 0) opts.log?.warn({ bucket: name, drift }, "bucket settings differ from this config; keeping the existing ones");
    return kv;
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== JetStreamApiCodes.StreamNotFound) throw e;
  }
  try {
    return await kvm.create(name, { replicas: opts.replicas, history: opts.history ?? 1, ttl: opts.ttlMs ?? 0 });
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== MoreJetStreamApiCodes.StreamNameExist) throw e;
    return kvm.open(name);
  }
}

/**
 * Whether a KV create or update failed because the entry's revision was not
 * the one expected (someone else wrote first): the write was not stored.
 */
export function isCasConflict(e: unknown): boolean {
  return e instanceof JetStreamApiError
    && (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}
