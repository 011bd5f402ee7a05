// Configuration's public entry: the one zod schema, files, env overrides and the defaults.
export { applyEnv, type Config, ConfigError, type GatewayModelConfig, loadConfig, parseConfig, type WorkerConfig } from "./config.js";
export { defaultConfig } from "./default-config.js";
