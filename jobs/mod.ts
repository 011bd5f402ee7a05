// The gateway's job plane: submit() and its job streams, the worker registry, queue depth.
export { JobClient, type JobRequest, type SubmitOptions } from "./submit.js";
export { lostAfterMs, WorkerRegistry } from "./registry.js";
export { queueStats, type QueueStats } from "./queue-stats.js";
export { type JobEvent, type JobStream } from "./job-stream.js";
export { DetachedJobs, type DetachedOptions } from "./detached.js";
export { DetachedFold, type DetachedStatus } from "./detached-fold.js";
export { EventLog } from "./event-log.js";
