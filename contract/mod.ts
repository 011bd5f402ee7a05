// The wire contract's public entry: the protobuf types under short names, subjects and
// JetStream names, and the one error table. Every process imports it.
export { BrokerError, ConfigError, type ErrorCode } from "./errors.js";
export { Lane, Lanes, modelToken, subjects, type Subjects } from "./subjects.js";
export { type ChatMessage, type ChatRequest, type Chunk, type ChunkInit, type CompletionRequest, type ContentPart, decodeChunk, decodeJob, type Delta, type EmbeddingRequest, encodeChunk, encodeJob, type Final, type InferenceJob, pb, REASSIGNED, type TokenCountRequest, type ToolCall, type ToolCallDelta, type Usage, Verdict, type WorkerHeartbeat } from "./proto.js";
export { estimatePromptTokens } from "./estimate.js";
