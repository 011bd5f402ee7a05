import { PermissionViolationError, type NatsConnection } from "@nats-io/transport-node";
import { waitFor } from "./broker.js";

/**
 * What nats-server 2.9.10 does with a denied operation, as observed here: it
 * drops the PUB or SUB and sends `-ERR 'Permissions Violation for Publish to
 * "<subject>"'` (or `Subscription to`); the connection stays up. nats.js v3
 * turns that into a `{type: "error"}` status carrying a PermissionViolationError
 * with the operation and subject, closes a refused subscription, and fails at
 * once a pending request (JetStream API call, js.publish) whose subject was
 * refused; a plain publish just vanishes. So each refusal is checked on the
 * status stream, by operation and subject, which holds for all of them.
 */
export function violations(nc: NatsConnection): (operation: "publish" | "subscription", subject: string | RegExp) => Promise<PermissionViolationError> {
  const seen: PermissionViolationError[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && s.error instanceof PermissionViolationError) seen.push(s.error);
    }
  })();
  return (operation, subject) => waitFor(
    () => seen.find((e) => e.operation === operation && (typeof subject === "string" ? e.subject === subject : subject.test(e.subject))),
    `a ${operation} permissions violation on ${String(subject)}`,
    5000,
  );
}
