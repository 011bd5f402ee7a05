import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// nats-server 2.9 takes no lock on its JetStream store: two servers on one store dir corrupt it,
// and a second `broker up` could even talk to an orphaned server left by the first. So `broker up`
// keeps its own lock file in the data dir, naming itself and, once started, its nats-server.

const LOCK_FILE = "broker-up.lock";

/** Who holds the data dir. */
interface Holders {
  up: number;
  natsServer?: number;
}

/** The data dir belongs to a process that still runs; the message says which and what to do. */
export class DataDirInUse extends Error {}

export interface DataDirLock {
  /** Records the nats-server's pid, so a later start also sees a server that outlived us. */
  setServer(pid: number): void;
  /** Removes the lock file if it is still ours. */
  release(): void;
}

/**
 * Takes the data dir for this process, or throws DataDirInUse when the lock file names a live
 * `broker up` or nats-server. A lock file whose processes are gone (a SIGKILLed broker) is taken over.
 */
export function lockDataDir(dir: string): DataDirLock {
  const file = join(dir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, JSON.stringify({ up: process.pid } satisfies Holders), { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 2) throw e;
    }
    refuseIfHeld(readHolders(file), dir);
    // Stale. Two brokers taking over the same stale file at once can both get here; the second
    // one's nats-server then fails on the port, or on the store, which is what we had before.
    rmSync(file, { force: true });
  }
  return {
    setServer: (pid) => {
      // Rename is atomic: a broker starting now reads the old or the new file, never half of one.
      writeFileSync(`${file}.tmp`, JSON.stringify({ up: process.pid, natsServer: pid } satisfies Holders));
      renameSync(`${file}.tmp`, file);
    },
    release: () => {
      if (readHolders(file)?.up === process.pid) rmSync(file, { force: true });
    },
  };
}

function readHolders(file: string): Holders | null {
  try {
    const h = JSON.parse(readFileSync(file, "utf8")) as Partial<Holders>;
    if (typeof h.up !== "number") return null;
    return typeof h.natsServer === "number" ? { up: h.up, natsServer: h.natsServer } : { up: h.up };
  } catch {
    // Missing, or cut short by a crash between create and write: nobody we could name holds it.
    return null;
  }
}

function refuseIfHeld(h: Holders | null, dir: string): void {
  if (!h) return;
  if (h.up !== process.pid && runs(h.up, /broker/)) {
    throw new DataDirInUse(`${dir} is in use by broker up (pid ${h.up}); stop it first (kill ${h.up}) or give this one another embeddedNats.dataDir`);
  }
  if (h.natsServer !== undefined && runs(h.natsServer, /nats-server/)) {
    throw new DataDirInUse(`${dir} is in use by nats-server (pid ${h.natsServer}), left running by a broker up that is gone; stop it (kill ${h.natsServer}) and start again`);
  }
}

/**
 * True when `pid` runs and its command line matches `what`: after a reboot or a long time the
 * pid may belong to someone else. Without /proc (not Linux), any live process counts.
 */
function runs(pid: number, what: RegExp): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    if (readable("/proc/self/stat")) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "EPERM";
    }
  }
  // The state follows the command name, which may itself hold ") ".
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  if (state === "Z" || state === "X") return false;
  try {
    return what.test(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "));
  } catch {
    return false;
  }
}

function readable(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}
