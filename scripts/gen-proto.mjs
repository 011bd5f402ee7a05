// Generates the static protobuf code and its types from proto/ into proto/gen/
// (git-ignored; `npm run build` runs this first). Never edit the output.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const src = join(root, "proto/inference/v1");
const out = join(root, "proto/gen");
const bin = (name) => join(root, "node_modules/.bin", name);
const protos = readdirSync(src).filter((f) => f.endsWith(".proto")).sort().map((f) => join(src, f));

mkdirSync(out, { recursive: true });
execFileSync(bin("pbjs"), [
  "-t", "static-module", "-w", "esm",
  // Node ESM needs the extension; pbjs's default "protobufjs/minimal" does not resolve.
  "--dependency", "protobufjs/minimal.js",
  // Deadlines are uint64 milliseconds: plain numbers are exact below 2^53.
  "--force-number",
  "--no-verify", "--no-delimited", "--no-typeurl", "--no-service",
  "-o", join(out, "inference.js"), ...protos,
], { stdio: "inherit" });
execFileSync(bin("pbts"), ["--no-comments", "-o", join(out, "inference.d.ts"), join(out, "inference.js")], { stdio: "inherit" });
