import { pino, type Logger } from "pino";

export type { Logger };

/** One JSON-lines logger per process. Secrets are redacted by path, so a key in a logged object never shows. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    name,
    level,
    redact: { paths: ["apiKey", "*.apiKey", "headers.authorization", "*.headers.authorization", "upstreamKey", "*.upstreamKey"], censor: "[redacted]" },
  });
}
