// Configuration's public entry: the one zod schema, files, env overrides and the defaults.
export { authEnabled, isLoopback, openAccessNotice } from "./access.js";
export {
  applyEnv, applyFlags, type Config, ConfigError, type ConfigFlags, type GatewayModelConfig, type InputLimitsConfig, KeyLimits, type KeyLimitsConfig, loadConfig,
  parseConfig, readDataFile, type StaticKeyConfig, StaticKeysFile, type WorkerConfig,
} from "./config.js";
export { defaultConfig } from "./default-config.js";
export type { NatsConfig } from "./nats.js";
