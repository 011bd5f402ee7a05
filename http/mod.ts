// The HTTP front's public entry (the OpenAI dialect lives in openai/).
export { buildMetricsServer } from "./metrics-server.js";
export { buildServer } from "./openai/server.js";
export { ResponseStore } from "./responses/store.js";
