// The HTTP front's public entry (the OpenAI dialect lives in openai/).
export { buildServer } from "./openai/server.js";
