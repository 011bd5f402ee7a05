// The generated protobuf code, under short names. Everything that crosses a
// process uses these types; never hand-written copies of them.
import "./pb-numbers.js";
import { inference } from "../proto/gen/inference.js";

export const pb = inference.v1;

export type InferenceJob = inference.v1.InferenceJob;
export type JobInit = inference.v1.InferenceJob.$Properties;
export type ChatRequest = inference.v1.ChatRequest.$Properties;
export type CompletionRequest = inference.v1.CompletionRequest.$Properties;
export type EmbeddingRequest = inference.v1.EmbeddingRequest.$Properties;
export type TokenCountRequest = inference.v1.TokenCountRequest.$Properties;
export type ChatMessage = inference.v1.ChatMessage.$Properties;
export type ContentPart = inference.v1.ContentPart.$Properties;
export type ToolCall = inference.v1.ToolCall.$Properties;
export type Chunk = inference.v1.Chunk;
export type ChunkInit = inference.v1.Chunk.$Properties;
export type Delta = inference.v1.Delta.$Properties;
export type ToolCallDelta = inference.v1.ToolCallDelta.$Properties;
export type Final = inference.v1.Final.$Properties;
export type ErrorChunk = inference.v1.Error.$Properties;
export type Usage = inference.v1.Usage.$Properties;
export type WorkerHeartbeat = inference.v1.WorkerHeartbeat;
export const Verdict = inference.v1.ClaimAnswer.Verdict;
export type Verdict = inference.v1.ClaimAnswer.Verdict;

/**
 * A Cancel's reason when the gateway gave the run up but not the job (its
 * worker was written off before anything reached the client): the worker
 * naks it so it runs again at once, instead of acking it away.
 */
export const REASSIGNED = "reassigned";

export const encodeJob = (job: JobInit): Uint8Array => pb.InferenceJob.encode(job).finish();
export const decodeJob = (data: Uint8Array): InferenceJob => pb.InferenceJob.decode(data);
export const encodeChunk = (chunk: ChunkInit): Uint8Array => pb.Chunk.encode(chunk).finish();
export const decodeChunk = (data: Uint8Array): Chunk => pb.Chunk.decode(data);
