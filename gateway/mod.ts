// The gateway process's public entry: its composition root.
export { startGateway, type GatewayHandle } from "./main.js";
