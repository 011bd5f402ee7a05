/**
 * What `broker up` serves with no config file: a simulated model with a
 * human-visible pace, so a fresh clone answers at once.
 */
export const defaultConfig = {
  gateway: {
    models: [{ id: "sim", queueWithoutWorkers: true }],
  },
  workers: [
    {
      name: "sim",
      slots: 8,
      models: [{ id: "sim", engine: "sim", options: { ttftMs: 80, itlMs: 15, outputTokens: 48 } }],
    },
  ],
} as const;
