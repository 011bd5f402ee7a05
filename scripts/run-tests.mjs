// Runs every compiled test (dist/test/**/*.test.js) with node:test.
// `npm test -- unit` runs only files whose path contains "unit".
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const dist = join(root, "dist/test");
if (!existsSync(dist)) {
  console.error("No compiled tests in dist/: run `npm run build` first (./scripts/test does it for you).");
  process.exit(2);
}
const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith(".test.js") ? [join(d, e.name)] : []);
const filters = process.argv.slice(2);
const files = walk(dist).filter((f) => filters.length === 0 || filters.some((s) => relative(dist, f).includes(s))).sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...files], { stdio: "inherit", cwd: root });
process.exit(r.status ?? 1);
