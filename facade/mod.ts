// The HTTP facade's public entry.
export { startGateway, type GatewayHandle } from "./gateway.js";
export { ModelCatalog } from "./models.js";
export { buildServer, type ServerDeps } from "./server.js";
