// Client API keys: the secret's format, its keyed hash, and the record kept
// for it (never the secret). Secrets are 32 random bytes, so a fast keyed hash
// (HMAC-SHA-256) is the right store: a slow password hash buys nothing against
// a search of 2^256 and would cost every request.
import { createHmac, randomBytes } from "node:crypto";
import { z } from "zod";
import { KeyLimits } from "../config/mod.js";

/** Every broker key starts with this, so secret scanners and people recognise it. */
export const KEY_PREFIX = "sk-brk-";

export const Priority = z.enum(["high", "normal", "low"]);
export type Priority = z.infer<typeof Priority>;

const PerModel = z.object({ models: z.string().min(1), ...KeyLimits.shape });

/** A key as stored in the keys bucket under its id, and as a static key file's entry becomes. */
export const KeyRecord = z.object({
  id: z.string().regex(/^[a-z0-9]{8,32}$/),
  name: z.string().min(1).max(64),
  /** hex HMAC-SHA-256 of the secret under the deployment's hash secret. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  /** The first characters of the secret, to tell keys apart in lists (never enough to use). */
  hint: z.string().max(16),
  models: z.array(z.string().min(1)).min(1),
  maxPriority: Priority,
  ...KeyLimits.shape,
  perModel: z.array(PerModel).default([]),
  createdAt: z.string(),
  /** ISO time after which the key is refused; absent: never. */
  expiresAt: z.string().optional(),
  /** Set by `broker keys revoke`; the record is kept so the refusal can say so. */
  revokedAt: z.string().optional(),
  /** Set by `broker keys rotate`. */
  rotatedAt: z.string().optional(),
});
export type KeyRecord = z.infer<typeof KeyRecord>;

/** A fresh secret: the prefix and 32 random bytes as base64url (43 characters). */
export function newSecret(): string {
  return KEY_PREFIX + randomBytes(32).toString("base64url");
}

/** A fresh key id: 12 lowercase hex-ish characters, safe as a KV key and a subject token. */
export function newKeyId(): string {
  return randomBytes(6).toString("hex");
}

export function hashSecret(secret: string, hashKey: Buffer): string {
  return createHmac("sha256", hashKey).update(secret).digest("hex");
}

/** What lists show of a secret: the prefix and four more characters. */
export function hintOf(secret: string): string {
  return secret.slice(0, KEY_PREFIX.length + 4) + "…";
}

/**
 * A glob over public model ids: `*` any run of characters (slashes too),
 * `?` one character; everything else literal.
 */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}
