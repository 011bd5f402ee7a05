// Several "hosts" on one machine: a network namespace per host, joined by a
// bridge that lives in a hub namespace of its own, so nothing touches the
// root namespace's network and only 10.<net>.0.<n> addresses are used.
// Needs root (ip netns); `canCreateNamespaces()` says whether this machine can.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";

const IP = "ip";

function ip(...args: string[]): void {
  execFileSync(IP, args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Whether namespaces can be made here (root, iproute2); the reason when not. */
export function canCreateNamespaces(): { ok: true } | { ok: false; why: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: "not root" };
  const probe = `brkprobe${process.pid}`;
  try {
    ip("netns", "add", probe);
    ip("netns", "del", probe);
    return { ok: true };
  } catch (e) {
    return { ok: false, why: `ip netns add failed: ${(e as Error).message.split("\n")[0]}` };
  }
}

export interface Host {
  name: string;
  ns: string;
  addr: string;
}

export interface Net {
  hosts: Map<string, Host>;
  host(name: string): Host;
  /** Adds a host (a namespace on the bridge) while the net runs. */
  add(name: string): Host;
  /** Runs a command inside a host's namespace. */
  run(host: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /** Takes the host's link down (a cut cable) or back up. */
  link(host: string, up: boolean): void;
  destroy(): void;
}

/** A bridge and one namespace per host, addresses 10.<net>.0.2, .3, … in the order given. */
export function createNet(tag: string, names: string[], net = 10 + (process.pid % 200)): Net {
  const hub = `${tag}-hub`;
  // A run killed before its clean-up leaves its namespaces (the same tag every run): remove them first.
  for (const ns of execFileSync(IP, ["netns", "list"], { encoding: "utf8" }).split("\n").map((l) => l.split(" ")[0] ?? "")) {
    if (ns.startsWith(`${tag}-`)) ip("netns", "del", ns);
  }
  const hosts = new Map<string, Host>();
  let next = 2;
  ip("netns", "add", hub);
  ip("-n", hub, "link", "add", "br0", "type", "bridge");
  ip("-n", hub, "link", "set", "br0", "up");
  ip("-n", hub, "link", "set", "lo", "up");
  const add = (name: string): Host => {
    const n = next++;
    const ns = `${tag}-${name}`;
    const addr = `10.${net}.0.${n}`;
    ip("netns", "add", ns);
    // veth: one end in the host as eth0, the other on the hub's bridge.
    ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", `v${n}`, "netns", hub);
    ip("-n", ns, "addr", "add", `${addr}/24`, "dev", "eth0");
    ip("-n", ns, "link", "set", "eth0", "up");
    ip("-n", ns, "link", "set", "lo", "up");
    ip("-n", hub, "link", "set", `v${n}`, "master", "br0");
    ip("-n", hub, "link", "set", `v${n}`, "up");
    const h = { name, ns, addr };
    hosts.set(name, h);
    return h;
  };
  for (const name of names) add(name);
  const host = (name: string): Host => {
    const h = hosts.get(name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  };
  return {
    hosts,
    host,
    add,
    // `ip netns exec` and setpriv both exec, so the command is this process's own child, and
    // pdeathsig kills it if the test dies first (a killed run must not leave servers behind).
    run: (name, cmd, args, env = {}) =>
      spawn(IP, ["netns", "exec", host(name).ns, "setpriv", "--pdeathsig", "SIGKILL", "--", cmd, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } }),
    link: (name, up) => ip("-n", host(name).ns, "link", "set", "eth0", up ? "up" : "down"),
    destroy: () => {
      for (const h of hosts.values()) {
        try {
          ip("netns", "del", h.ns);
        } catch {
          // already gone
        }
      }
      try {
        ip("netns", "del", hub);
      } catch {
        // already gone
      }
    },
  };
}
