// Process and operations code: logging, metrics, the embedded nats-server, its credentials and its data-dir lock.
export { DataDirInUse } from "./data-dir-lock.js";
export { GatewayMetrics, type KeyUsage, type ModelMetrics, WorkerMetrics } from "./metrics.js";
export { createLogger, type Logger } from "./log.js";
export { type EmbeddedNats, NATS_STOP_MS, startEmbeddedNats } from "./embedded-nats.js";
export { ADMIN_USER, loginAs, withEmbeddedCredentials } from "./embedded-credentials.js";
