import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

// The folders of production code. Each has one public entry, mod.ts; tests and the bench may reach inside.
const FOLDERS = ["contract", "access", "nats", "jobs", "config", "ops", "core", "gateway", "http", "grpc", "workers", "scripts"];
const root = join(dirname(fileURLToPath(import.meta.url)), "../../..");

function sources(): { file: string; text: string }[] {
  return FOLDERS.flatMap((dir) =>
    readdirSync(join(root, dir), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
      .map((f) => ({ file: join(dir, f), text: readFileSync(join(root, dir, f), "utf8") })));
}

/** Relative module specifiers of static imports, re-exports and dynamic imports. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s*|import\s*\(?\s*)"(\.{1,2}\/[^"]+)"/g)) out.push(m[1] as string);
  return out;
}

test("every production folder has a mod.ts", () => {
  for (const dir of FOLDERS.filter((d) => d !== "scripts")) assert.ok(existsSync(join(root, dir, "mod.ts")), `${dir}/mod.ts`);
});

test("no folder imports another folder's internals: only its mod.ts", () => {
  const deep: string[] = [];
  for (const { file, text } of sources()) {
    const from = file.split("/")[0];
    for (const spec of specifiers(text)) {
      const target = normalize(join(dirname(file), spec));
      const to = target.split("/")[0] as string;
      // The generated protobuf code is read through contract/proto.ts only.
      if (to === from || to === "proto") continue;
      if (relative(to, target) !== "mod.js") deep.push(`${file} imports ${spec}`);
    }
  }
  assert.deepEqual(deep, [], "import these through the folder's mod.ts");
});

test("the check sees deep imports: a planted one is caught", () => {
  const planted = specifiers('import { x } from "../jobs/submit.js";\nconst m = await import("../http/mod.js");');
  assert.deepEqual(planted, ["../jobs/submit.js", "../http/mod.js"]);
});

test("production code has no `as unknown as` outside the protobuf glue", () => {
  const found = sources()
    .filter(({ file }) => file !== "contract/pb-numbers.ts")
    .flatMap(({ file, text }) => text.split("\n").flatMap((line, i) => (line.includes("as unknown as") ? [`${file}:${i + 1}`] : [])));
  assert.deepEqual(found, []);
});
