import type { Logger } from "../ops/mod.js";

/**
 * Past a worker's drainTimeoutMs, how long it may still take (aborted jobs winding down, engines
 * closing, the last NATS flush) before it exits anyway.
 */
export const EXIT_GRACE_MS = 3000;

export interface ShutdownOptions {
  log: Logger;
  /** However stuck `stop` is, the process exits this long after shutdown began. */
  boundMs: number;
  /** Runs before a forced exit: whatever must not outlive this process (children) goes here. */
  force?: () => void;
}

export interface Shutdown {
  /** Begins shutting down as a signal would; a second call forces the exit. */
  begin(reason: string): void;
}

/**
 * Runs `stop` on the first SIGINT or SIGTERM and exits with the code it returns (0 by default,
 * 1 if it throws). A second signal, or `stop` outliving `boundMs`, exits at once with code 1:
 * Ctrl-C or a supervisor's SIGTERM must end the process whatever an engine or NATS is doing.
 */
export function onShutdown(stop: () => Promise<number | void>, opts: ShutdownOptions): Shutdown {
  let begun = false;
  const forced = (why: string): void => {
    opts.log.error(`${why}: exiting now`);
    opts.force?.();
    process.exit(1);
  };
  const begin = (reason: string): void => {
    if (begun) return forced(`${reason} while shutting down`);
    begun = true;
    opts.log.info({ reason, boundMs: opts.boundMs }, "shutting down (a second signal forces the exit)");
    // Not unref'd: armed only once shutdown began, it must also fire when `stop` waits on a
    // promise that nothing in the event loop holds, where Node would otherwise exit 0 silently.
    setTimeout(() => forced(`shutdown did not finish within ${opts.boundMs} ms`), opts.boundMs);
    stop().then((code) => process.exit(code ?? 0), (e: unknown) => {
      opts.log.error({ err: e }, "shutdown failed");
      process.exit(1);
    });
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => begin(sig));
  return { begin };
}

export interface ParentWatch {
  /** From now on the parent's death begins this shutdown instead of exiting at once. */
  handOver(shutdown: Shutdown): void;
}

/**
 * A process spawned with an IPC channel (`broker up`'s workers, test harnesses) learns of its parent's death
 * when the channel closes, which the kernel does even after a SIGKILL: it never lives on as an
 * orphan. Until handOver, there is nothing to drain, so it exits at once; call this first thing,
 * since starting (connecting to NATS, loading a model) can take long, or hang once NATS is gone.
 */
export function watchParent(log: Logger): ParentWatch {
  if (!process.send) return { handOver: () => {} };
  let onGone = (): void => {
    log.warn("the parent process exited before this one had started: exiting");
    process.exit(1);
  };
  process.once("disconnect", () => onGone());
  return { handOver: (shutdown) => void (onGone = () => shutdown.begin("parent exited")) };
}
