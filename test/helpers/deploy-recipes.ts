// Checks the deploy recipes under deploy/ against the code they run: config files against the schema,
// env vars and `broker` subcommands against what the source reads and dispatches, ports against the
// configs, and the pinned NATS image. Pure over an in-memory copy, so a test can break a recipe on purpose.
import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { applyEnv, parseConfig, type Config } from "../../config/config.js";

export const NATS_VERSION = "2.9.10";

/** Every file under deploy/, by path relative to deploy/ (posix separators). */
export type Recipes = Map<string, string>;

/** What the source says: env vars it reads and `broker` subcommands it dispatches. */
export interface SourceFacts {
  env: Set<string>;
  commands: Set<string>;
}

export function loadRecipes(root: string): Recipes {
  const dir = join(root, "deploy");
  const out: Recipes = new Map();
  for (const f of readdirSync(dir, { recursive: true, encoding: "utf8" }).sort()) {
    try {
      out.set(f.split("\\").join("/"), readFileSync(join(dir, f), "utf8"));
    } catch {
      // a directory
    }
  }
  return out;
}

/** Scans the source rather than listing names here, so a renamed variable or command fails the check. */
export function sourceFacts(root: string): SourceFacts {
  const read = (p: string) => readFileSync(join(root, p), "utf8");
  const env = new Set<string>();
  for (const m of read("config/config.ts").matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) env.add(m[1] as string);
  for (const dir of ["scripts", "ops", "gateway", "workers", "access", "nats", "config"]) {
    for (const f of readdirSync(join(root, dir), { recursive: true, encoding: "utf8" })) {
      if (!f.endsWith(".ts")) continue;
      // LOG_LEVEL (ops/log.ts), BROKER_CONFIG (scripts/broker.ts), …; the *Env settings' names come from
      // the parsed configs instead (envNamedBy).
      for (const m of read(join(dir, f)).matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)) env.add(m[1] as string);
    }
  }
  // The README's list of environment overrides.
  const readme = read("README.md");
  const at = readme.indexOf("Environment overrides:");
  for (const m of readme.slice(at, readme.indexOf("\n\n", at)).matchAll(/`([A-Z][A-Z0-9_]+)`/g)) env.add(m[1] as string);
  const broker = read("scripts/broker.ts");
  const commands = new Set<string>();
  for (const m of broker.matchAll(/process\.argv\[2\] === "([a-z]+)"/g)) commands.add(m[1] as string);
  for (const m of broker.matchAll(/\[((?:"[a-z]+",?\s*)+)\]\.includes\(cmd\)/g)) {
    for (const c of (m[1] as string).matchAll(/"([a-z]+)"/g)) commands.add(c[1] as string);
  }
  return { env, commands };
}

/** Env vars a config names: the admin key, the key-hash secret, relay engines' apiKeyEnv. */
function envNamedBy(c: Config): string[] {
  const keys = c.workers.flatMap((w) => w.models.flatMap((m) => (typeof m.options.apiKeyEnv === "string" ? [m.options.apiKeyEnv] : [])));
  return [c.gateway.adminKeyEnv, c.gateway.auth.hashSecretEnv, ...keys];
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const yamlAll = (text: string): Obj[] => parseAllDocuments(text, { merge: true }).map((d) => obj(d.toJS()));

/** `[Section]` / `Key=Value` lines; repeated keys keep every value. */
export function parseUnit(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) section = s[1] as string;
    else {
      const i = line.indexOf("=");
      const k = `${section}.${line.slice(0, i).trim()}`;
      out.set(k, [...(out.get(k) ?? []), line.slice(i + 1).trim()]);
    }
  }
  return out;
}

/** One process a recipe starts with the broker image or binary. */
interface Invocation {
  where: string;
  argv: string[];
  env: string[];
  /** The configs its --config may name, by file name. */
  configs: Map<string, Config> | undefined;
  /** Container ports it publishes or declares. */
  ports: number[];
  /** Seconds it is given between SIGTERM and SIGKILL. */
  stopSec: number | undefined;
}

const flag = (argv: string[], name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const envFileKeys = (text: string | undefined) =>
  (text ?? "").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).map((l) => l.slice(0, l.indexOf("=")));

/** Every problem found; an empty list means the recipes agree with the code. */
export function checkRecipes(recipes: Recipes, facts: SourceFacts): string[] {
  const problems: string[] = [];
  const parseOne = (where: string, text: string): Config | undefined => {
    try {
      const raw = obj(parseYaml(text));
      const c = parseConfig(applyEnv(raw, {}));
      if (c.queue.replicas !== 3) problems.push(`${where}: queue.replicas is ${c.queue.replicas}, not 3 (three NATS servers)`);
      return c;
    } catch (e) {
      problems.push(`${where}: ${(e as Error).message}`);
      return undefined;
    }
  };
  const composeConfigs = new Map<string, Config>();
  for (const [p, text] of recipes) {
    if (!p.startsWith("config/") || !p.endsWith(".yaml")) continue;
    const c = parseOne(p, text);
    if (c) composeConfigs.set(basename(p), c);
  }
  const k8sDocs = [...recipes].filter(([p]) => p.startsWith("k8s/") && p.endsWith(".yaml") && !p.endsWith("values.yaml"))
    .flatMap(([p, text]) => yamlAll(text).map((doc) => ({ p, doc })));
  const k8sConfigs = new Map<string, Config>();
  for (const { p, doc } of k8sDocs.filter((d) => d.doc.kind === "ConfigMap")) {
    for (const [k, v] of Object.entries(obj(doc.data))) {
      if (!k.endsWith(".yaml")) continue;
      const c = parseOne(`${p} ConfigMap ${String(obj(doc.metadata).name)} ${k}`, String(v));
      if (c) k8sConfigs.set(k, c);
    }
  }
  const known = new Set(facts.env);
  for (const c of [...composeConfigs.values(), ...k8sConfigs.values()]) for (const e of envNamedBy(c)) known.add(e);

  const runs: Invocation[] = [];
  const natsUrls: { where: string; url: string }[] = [];
  const natsImages: { where: string; image: string }[] = [];
  // compose
  const compose = obj(parseYaml(recipes.get("compose.yaml") ?? "{}", { merge: true }));
  for (const [name, s] of Object.entries(obj(compose.services)).map(([n, v]) => [n, obj(v)] as const)) {
    const image = String(s.image ?? "");
    if (image.startsWith("nats:")) {
      natsImages.push({ where: `compose.yaml ${name}`, image });
      continue;
    }
    const envObj = Array.isArray(s.environment)
      ? Object.fromEntries(s.environment.map((e) => String(e).split("=", 2)))
      : obj(s.environment);
    const env = Object.keys(envObj);
    for (const f of arr(s.env_file).map(String)) env.push(...envFileKeys(recipes.get(f) ?? recipes.get(`${f}.example`)));
    if (typeof envObj.NATS_URL === "string") natsUrls.push({ where: `compose.yaml ${name}`, url: envObj.NATS_URL });
    const grace = /^(\d+)s$/.exec(String(s.stop_grace_period ?? ""));
    runs.push({
      where: `compose.yaml ${name}`, argv: arr(s.command).map(String), env, configs: composeConfigs,
      ports: arr(s.ports).map((p) => Number(String(p).split(":").pop())), stopSec: grace ? Number(grace[1]) : 10,
    });
  }
  // Kubernetes
  const deployments = k8sDocs.filter((d) => d.doc.kind === "Deployment");
  const containerPorts = new Map<string, Map<string, number>>();
  for (const { p, doc } of deployments) {
    const pod = obj(obj(obj(doc.spec).template).spec);
    for (const ct of arr(pod.containers).map(obj)) {
      const where = `${p} ${String(obj(doc.metadata).name)}/${String(ct.name)}`;
      const named = new Map(arr(ct.ports).map(obj).map((x) => [String(x.name ?? x.containerPort), Number(x.containerPort)]));
      containerPorts.set(String(obj(doc.metadata).name), named);
      runs.push({
        where, argv: [...arr(ct.command), ...arr(ct.args)].map(String), env: arr(ct.env).map((e) => String(obj(e).name)),
        configs: k8sConfigs, ports: [...named.values()], stopSec: Number(pod.terminationGracePeriodSeconds ?? 30),
      });
      for (const probe of ["livenessProbe", "readinessProbe"]) {
        const port = obj(obj(ct[probe]).httpGet).port;
        if (port !== undefined) runs.at(-1)?.ports.push(typeof port === "number" ? port : (named.get(String(port)) ?? NaN));
      }
    }
  }
  for (const { p, doc } of k8sDocs.filter((d) => d.doc.kind === "Service")) {
    const sel = obj(obj(doc.spec).selector);
    const target = deployments.find((d) => Object.entries(sel).every(([k, v]) => obj(obj(obj(obj(d.doc.spec).template).metadata).labels)[k] === v));
    const named = containerPorts.get(String(obj(target?.doc.metadata).name));
    if (!named) {
      problems.push(`${p} Service ${String(obj(doc.metadata).name)}: selects no Deployment`);
      continue;
    }
    for (const sp of arr(obj(doc.spec).ports).map(obj)) {
      const tp = sp.targetPort ?? sp.port;
      const n = typeof tp === "number" ? tp : named.get(String(tp));
      if (n === undefined || ![...named.values()].includes(n) || n !== sp.port) {
        problems.push(`${p} Service ${String(obj(doc.metadata).name)}: port ${String(sp.port)} → ${String(tp)} is not the container's port of the same number`);
      }
    }
  }
  for (const { p, doc } of k8sDocs.filter((d) => d.doc.kind === "Secret")) {
    for (const [k, v] of Object.entries(obj(doc.stringData))) if (k === "url") natsUrls.push({ where: `${p} Secret ${k}`, url: String(v) });
  }
  const values = obj(parseYaml(recipes.get("k8s/nats-values.yaml") ?? "{}"));
  natsImages.push({ where: "k8s/nats-values.yaml container.image", image: `nats:${String(obj(obj(values.container).image).tag)}` });
  const natsConfig = obj(values.config);
  if (obj(natsConfig.cluster).enabled !== true || obj(natsConfig.cluster).replicas !== 3) problems.push("k8s/nats-values.yaml: config.cluster is not enabled with 3 replicas");
  if (obj(natsConfig.jetstream).enabled !== true || obj(obj(natsConfig.jetstream).fileStore).enabled !== true) problems.push("k8s/nats-values.yaml: JetStream file storage is not on");
  // systemd
  for (const [p, text] of recipes) {
    if (!p.endsWith(".service")) continue;
    const u = parseUnit(text);
    const exec = (u.get("Service.ExecStart")?.[0] ?? "").split(/\s+/);
    const env = (u.get("Service.Environment") ?? []).map((e) => e.slice(0, e.indexOf("=")));
    for (const f of u.get("Service.EnvironmentFile") ?? []) {
      const local = posix.join(dirname(p), `${basename(f.replace(/^-/, ""))}.example`);
      if (!recipes.has(local)) problems.push(`${p}: EnvironmentFile ${f} has no ${local} to show what it holds`);
      env.push(...envFileKeys(recipes.get(local)));
    }
    for (const [k, want] of [["Restart", "always"], ["KillSignal", "SIGTERM"]]) {
      if (u.get(`Service.${k}`)?.[0] !== want) problems.push(`${p}: ${k} is not ${want}`);
    }
    const stop = Number(u.get("Service.TimeoutStopSec")?.[0]);
    // The unit's config is the operator's /etc/broker file: check it against the recipe configs' settings.
    runs.push({ where: p, argv: exec.slice(exec.findIndex((t) => t.endsWith("broker.js")) + 1), env, configs: undefined, ports: [], stopSec: stop });
    const argv = runs.at(-1)?.argv ?? [];
    if (argv[0] === "worker") {
      if (flag(argv, "--name") !== "%i") problems.push(`${p}: a template unit runs --name %i`);
      const drain = Math.max(...[...composeConfigs.values()].flatMap((c) => c.workers.map((w) => w.drainTimeoutMs)));
      if (!(stop > drain / 1000 + 5)) problems.push(`${p}: TimeoutStopSec ${stop} is not above the workers' drainTimeoutMs + 5 s (${drain / 1000 + 5})`);
    }
  }
  for (const [p, text] of recipes) {
    for (const l of text.split("\n")) if (l.startsWith("NATS_URL=")) natsUrls.push({ where: p, url: l.slice(9) });
  }

  // (b) env, (c) commands, (d) ports, stop grace
  for (const r of runs) {
    const cmd = r.argv[0] ?? "";
    if (!facts.commands.has(cmd)) problems.push(`${r.where}: \`broker ${cmd}\` is not a command scripts/broker.ts dispatches`);
    for (const e of r.env) if (!known.has(e)) problems.push(`${r.where}: sets ${e}, which the broker never reads`);
    const file = flag(r.argv, "--config");
    const cfg = r.configs && file ? r.configs.get(basename(file)) : undefined;
    if (r.configs && file && !cfg) problems.push(`${r.where}: --config ${file} is none of the recipe's config files`);
    if (!cfg) continue;
    if (cmd === "gateway") {
      const g = cfg.gateway;
      const mine = [g.port, g.grpcPort, g.metricsPort].filter((x): x is number => x !== undefined);
      for (const port of r.ports) if (!mine.includes(port)) problems.push(`${r.where}: port ${port} is not one of the gateway config's ports (${mine.join(", ")})`);
      for (const port of [g.port, g.grpcPort]) if (port !== undefined && !r.ports.includes(port)) problems.push(`${r.where}: the config's port ${port} is not exposed`);
      if (r.stopSec !== undefined && !(r.stopSec > g.drainTimeoutMs / 1000 + 3)) problems.push(`${r.where}: stop grace ${r.stopSec} s is not above gateway.drainTimeoutMs + 3 s`);
    } else if (cmd === "worker") {
      const name = flag(r.argv, "--name");
      const w = name ? cfg.workers.find((x) => x.name === name) : cfg.workers[0];
      if (!w) {
        problems.push(`${r.where}: --name ${name ?? "(none)"} is no worker in ${file}`);
        continue;
      }
      for (const port of r.ports) if (port !== w.metricsPort) problems.push(`${r.where}: port ${port} is not worker ${w.name}'s metricsPort (${w.metricsPort})`);
      if (r.stopSec !== undefined && !(r.stopSec > w.drainTimeoutMs / 1000 + 3)) problems.push(`${r.where}: stop grace ${r.stopSec} s is not above drainTimeoutMs + 3 s`);
    }
  }
  // Subcommands named in prose and comments (`broker keys create`, `… broker.js keys …`).
  for (const [p, text] of recipes) {
    for (const m of text.matchAll(/(?:broker\.js|`broker) ([a-z][a-z-]*)/g)) {
      if (!facts.commands.has(m[1] as string)) problems.push(`${p}: mentions \`broker ${m[1]}\`, which scripts/broker.ts does not dispatch`);
    }
  }
  // (e) one NATS version everywhere, three servers in every URL
  if (natsImages.filter((i) => i.where.startsWith("compose")).length !== 3) problems.push("compose.yaml: not three NATS servers");
  for (const i of natsImages) if (i.image !== `nats:${NATS_VERSION}-alpine`) problems.push(`${i.where}: NATS image ${i.image}, not nats:${NATS_VERSION}-alpine`);
  for (const [p, text] of recipes) {
    for (const m of text.matchAll(/\bnats:(\d+\.\d+\.\d+)/g)) if (m[1] !== NATS_VERSION) problems.push(`${p}: names NATS ${m[1]}, not ${NATS_VERSION}`);
  }
  for (const c of composeConfigs.values()) natsUrls.push({ where: "deploy/config nats.url", url: c.nats.url });
  for (const u of natsUrls) if (u.url.split(",").length !== 3) problems.push(`${u.where}: NATS_URL ${u.url} does not list three servers`);
  return problems;
}
