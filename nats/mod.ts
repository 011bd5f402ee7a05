// NATS plumbing's public entry: connecting (credentials and TLS included), JetStream provisioning, and the inbox requester.
export { connectionInbox, NoResponders, Requester } from "./requester.js";
export { type Connected, connectNats, trackConnected } from "./connect.js";
export { redactUrl, resolveNatsAuth, type NatsAuth } from "./auth.js";
export {
  inboxPrefix, natsAuthorization, natsPermissions, natsServerConfig, type NatsPermissions, type NatsRole, type NatsUser, type RoleOptions, roleUser, roleUsers,
} from "./roles.js";
export { ensureJobConsumer, ensureJobStream, ensureStream, MoreJetStreamApiCodes } from "./jetstream.js";
export { BUCKETS, bucketName, type BucketKind, isCasConflict, openBucket, type BucketOptions, type KV, type KvEntry, type KvWatchEntry } from "./kv.js";
