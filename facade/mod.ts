// The HTTP front's public entry (OpenAI dialect).
export { buildServer, type ServerDeps } from "./server.js";
