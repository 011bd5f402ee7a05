// The job plane's public entry: what the fronts, the workers and the CLI use.
// The gRPC front and its typed client have their own entries (grpc/server.ts,
// grpc/client.ts), so a worker never loads @grpc/grpc-js.
export { applyEnv, ConfigError, loadConfig, parseConfig, type Config, type GatewayModelConfig, type WorkerConfig } from "./config.js";
export { defaultConfig, demoModelPath } from "./default-config.js";
export { DataDirInUse } from "./data-dir-lock.js";
export { findNatsServer, NATS_STOP_MS, startEmbeddedNats, type EmbeddedNats } from "./embedded-nats.js";
export { BrokerError, ErrorCodes, ErrorType, type ErrorCode } from "./errors.js";
export { ensureJobConsumer, ensureJobStream } from "./jetstream.js";
export type { JobEvent, JobStream } from "./job-stream.js";
export { createLogger, type Logger } from "./log.js";
export { GatewayMetrics, WorkerMetrics } from "./metrics.js";
export { connectNats } from "./nats.js";
export { queueStats, type QueueStats } from "./queue-stats.js";
export { WorkerRegistry, type WorkerInfo } from "./registry.js";
export { Lane, Lanes, modelFromToken, modelToken, subjects } from "./subjects.js";
export { JobClient, type JobRequest, type SubmitOptions } from "./submit.js";
export type { ChatMessage, ChatRequest, CompletionRequest, ContentPart, Delta, EmbeddingRequest, Final, ToolCall } from "./proto.js";
export { laneFrom, requestIdFrom } from "./request-meta.js";
