// The core's public entry: the transport-neutral inference service, request
// validation into the canonical request, the routing table, the admin views,
// and the job-ownership seam. Fronts import only this file.
export { AdminViews, type AdminDeps, type WorkerView } from "./admin.js";
export { Answer, type Collector, type OutputSink } from "./answer.js";
export type { DetachedOwner, JobOwner } from "./jobs.js";
export type { Background } from "./background.js";
export { bearerOf, UPSTREAM_MODEL_HEADER } from "./route.js";
export { ModelCatalog, type ModelCard, type ModelDirectory, type RoutePlan, type RouteTarget } from "./routes.js";
export { InferenceService, type CallContext } from "./service.js";
export { type Caller, Guard, type GuardOptions, type LimitGate, type Ticket, type UsageSink } from "./guard.js";
export type { RateLimitView } from "../access/mod.js";
export { estimatePromptTokens } from "../contract/mod.js";
export { rateLimitHeaders, resetDuration } from "./rate-limit-headers.js";
export { validateChat, type ChatCall } from "./validate/chat.js";
export { validateCompletion, type CompletionCall } from "./validate/completion.js";
export { validateEmbedding, type EmbeddingCall } from "./validate/embedding.js";
export * as fields from "./validate/fields.js";
export { check, invalid, jsonParam, missing, type Path, type RenderParam } from "./validate/issues.js";
export { jsonTooDeep, tooDeep, type InputLimits } from "./validate/limits.js";
export type { Valid } from "./validate/valid.js";
export { laneFrom, requestIdFrom } from "./request-meta.js";
