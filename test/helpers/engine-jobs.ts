// Jobs as a worker sees them, for engine tests: encoded and decoded, so absent
// optional fields are null.
import { decodeJob, encodeJob, type ChatRequest, type InferenceJob, type JobInit } from "../../contract/proto.js";

let jobSeq = 0;

/** A chat job. */
export function makeJob(model: string, chat: ChatRequest): InferenceJob {
  return makeJobOf(model, { chat });
}

/** Any kind of job: chat, legacy completion or embedding. */
export function makeJobOf(model: string, request: Pick<JobInit, "chat" | "completion" | "embedding">): InferenceJob {
  return decodeJob(encodeJob({ id: `job-${++jobSeq}`, model, ...request, createdUnixMs: Date.now() }));
}
