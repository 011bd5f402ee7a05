import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { checkRecipes, loadRecipes, parseUnit, type Recipes, sourceFacts } from "../helpers/deploy-recipes.js";

// The recipes under deploy/ are not run by any test (they need Docker, a cluster, systemd): this keeps them
// in step with the code instead. See test/helpers/deploy-recipes.ts for what is compared with what.
const root = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const recipes = loadRecipes(root);
const facts = sourceFacts(root);

/** A copy of the recipes with one file's text replaced; the replacement must change something. */
function broken(path: string, from: string | RegExp, to: string): Recipes {
  const text = recipes.get(path);
  assert.ok(text !== undefined, `deploy/${path} exists`);
  const next = text.replace(from, to);
  assert.notEqual(next, text, `deploy/${path} contains ${String(from)}`);
  return new Map(recipes).set(path, next);
}

test("the source facts the check relies on are found", () => {
  for (const c of ["up", "gateway", "worker", "keys", "usage"]) assert.ok(facts.commands.has(c), c);
  for (const e of ["NATS_URL", "PORT", "GRPC_PORT", "HOST", "BROKER_PREFIX", "BROKER_CONFIG", "LOG_LEVEL"]) assert.ok(facts.env.has(e), e);
});

test("every recipe file is there", () => {
  for (const p of ["Dockerfile", "compose.yaml", "README.md", "config/gateway.yaml", "config/worker-gpu.yaml", "config/worker-relay.yaml",
    "k8s/nats-values.yaml", "k8s/configmap.yaml", "k8s/gateway.yaml", "k8s/workers.yaml", "k8s/keda.yaml", "k8s/secrets.yaml",
    "systemd/broker-worker@.service", "systemd/broker-gateway.service"]) {
    assert.ok(recipes.has(p), `deploy/${p}`);
  }
});

test("the deploy recipes agree with the code: configs, env vars, commands, ports, NATS version", () => {
  assert.deepEqual(checkRecipes(recipes, facts), []);
});

test("the Dockerfile builds as scripts/setup.sh does and runs the broker CLI", () => {
  const d = recipes.get("Dockerfile") ?? "";
  assert.match(d, /^FROM node:20-bookworm-slim/m);
  assert.match(d, /RUN npm install /);
  assert.match(d, /npm run build/);
  assert.match(d, /ENTRYPOINT \["node", "dist\/scripts\/broker\.js"\]/);
});

test("the KEDA trigger scales from zero on the gateways' queue gauge, for a model that queues without workers", () => {
  const keda = recipes.get("k8s/keda.yaml") ?? "";
  assert.match(keda, /minReplicaCount: 0/);
  const model = /broker_queue_waiting_jobs\{model="([^"]+)"\}/.exec(keda)?.[1];
  assert.ok(model, "the query names a model");
  const cm = recipes.get("k8s/configmap.yaml") ?? "";
  const route = new RegExp(`- id: ${model.replace(/\./g, "\\.")}\\n\\s+(?:#.*\\n\\s+)*queueWithoutWorkers: true[\\s\\S]*?maxQueueWaitMs: (\\d+)`).exec(cm);
  assert.ok(route, `gateway.models ${model} has queueWithoutWorkers: true and a maxQueueWaitMs`);
  assert.ok(Number(route[1]) >= 120_000, "maxQueueWaitMs covers a cold start (at least 2 minutes)");
});

test("a systemd unit parses as sections of keys", () => {
  const u = parseUnit(recipes.get("systemd/broker-worker@.service") ?? "");
  assert.match(u.get("Service.ExecStart")?.[0] ?? "", /broker\.js worker .*--name %i/);
  assert.equal(u.get("Install.WantedBy")?.[0], "multi-user.target");
});

test("the check fails on a broken recipe", async (t) => {
  const cases: [string, Recipes, RegExp][] = [
    ["an unknown config field", broken("config/gateway.yaml", "  port: 8080\n", "  port: 8080\n  prot: 1\n"), /config\/gateway\.yaml: invalid config[\s\S]*prot/],
    ["an unknown field in the ConfigMap", broken("k8s/configmap.yaml", "slots: 64", "slots: 64\n        slot: 1"), /ConfigMap broker-config worker-relay\.yaml: invalid config/],
    ["queue.replicas 1", broken("config/worker-gpu.yaml", "replicas: 3", "replicas: 1"), /worker-gpu\.yaml: queue\.replicas is 1/],
    ["an env var nothing reads", broken("compose.yaml", "LOG_LEVEL: info", "LOGLEVEL: info"), /compose\.yaml gateway: sets LOGLEVEL/],
    ["an env var in a unit", broken("systemd/broker-gateway.service", "Environment=LOG_LEVEL", "Environment=BROKER_LOG"), /sets BROKER_LOG/],
    ["an upstream key the config does not name", broken("k8s/workers.yaml", "- name: OPENAI_API_KEY", "- name: OPENAI_KEY"), /sets OPENAI_KEY/],
    ["a subcommand broker.ts lacks", broken("k8s/gateway.yaml", 'args: ["gateway"', 'args: ["serve"'), /`broker serve` is not a command/],
    ["a subcommand in prose", broken("README.md", /broker keys create/, "broker key create"), /mentions `broker key`/],
    ["a worker name the config lacks", broken("compose.yaml", '"--name", "gpu0"', '"--name", "gpu1"'), /--name gpu1 is no worker/],
    ["a Service port off the config", broken("k8s/gateway.yaml", "port: 50051, targetPort: grpc", "port: 50052, targetPort: grpc"), /port 50052/],
    ["a container port off the config", broken("k8s/gateway.yaml", "containerPort: 50051", "containerPort: 50052"), /port 50052 is not one of the gateway config's ports/],
    ["a compose port off the config", broken("compose.yaml", '"8080:8080"', '"8080:8081"'), /port 8081 is not one/],
    ["another NATS version", broken("compose.yaml", /nats:2\.9\.10-alpine/, "nats:2.10.0-alpine"), /NATS 2\.10\.0/],
    ["another NATS tag in the chart", broken("k8s/nats-values.yaml", "tag: 2.9.10-alpine", "tag: 2.10.7-alpine"), /nats-values\.yaml container\.image: NATS image nats:2\.10\.7-alpine/],
    ["a NATS_URL with one server", broken("systemd/broker.env.example", /,nats:\/\/nats2\.internal:4222,nats:\/\/nats3\.internal:4222/, ""), /does not list three servers/],
    ["a stop timeout within the drain", broken("systemd/broker-worker@.service", "TimeoutStopSec=40", "TimeoutStopSec=33"), /TimeoutStopSec 33/],
    ["a grace period within the drain", broken("k8s/workers.yaml", "terminationGracePeriodSeconds: 40 ", "terminationGracePeriodSeconds: 30 "), /stop grace 30 s/],
  ];
  for (const [name, copy, want] of cases) {
    await t.test(name, () => {
      const problems = checkRecipes(copy, facts);
      assert.ok(problems.some((p) => want.test(p)), `expected ${String(want)} among:\n${problems.join("\n")}`);
    });
  }
});
