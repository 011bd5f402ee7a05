// The GGUF writer and checker against node-llama-cpp's own GGUF reader, and the
// malformed files the checker must stop before they reach llama.cpp.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { readGgufFileInfo } from "node-llama-cpp";
import { buildDemoModel, CHATML_TEMPLATE, writeDemoModel } from "../../workers/engines/llama-cpp/demo-model.js";
import { checkGguf } from "../../workers/engines/llama-cpp/gguf-check.js";
import { writeGguf, type GgufValue } from "../../workers/engines/llama-cpp/gguf-writer.js";

const dir = await mkdtemp(join(tmpdir(), "gguf-test-"));
let files = 0;

async function written(edit: (m: ReturnType<typeof buildDemoModel>) => void = () => {}): Promise<string> {
  const path = join(dir, `m${++files}.gguf`);
  const m = buildDemoModel();
  edit(m);
  await writeGguf(path, m.metadata, m.tensors);
  return path;
}

describe("GGUF writer and checker", () => {
  after(() => rm(dir, { recursive: true, force: true }));

  test("node-llama-cpp's reader sees the demo model's metadata and tensors as written", async () => {
    const path = await written();
    const info = await readGgufFileInfo(path, { logWarnings: false });
    assert.equal(info.version, 3);
    const meta = info.metadata as unknown as Record<string, Record<string, unknown>>;
    assert.equal(meta.general!.architecture, "llama");
    assert.equal(meta.general!.alignment, 32);
    assert.equal((meta.llama as { attention: { head_count: number } }).attention.head_count, 4);
    const tokenizer = meta.tokenizer as { ggml: { model: string; tokens: string[]; merges: string[] }; chat_template: string };
    assert.equal(tokenizer.ggml.model, "gpt2");
    assert.equal(tokenizer.ggml.tokens[32], "Ġ", "byte 0x20 is GPT-2's Ġ");
    assert.ok(tokenizer.ggml.tokens.includes("Ġsea") && tokenizer.ggml.merges.includes("Ġse a"));
    assert.equal(tokenizer.chat_template, CHATML_TEMPLATE);
    assert.equal(info.tensorInfo?.length, 2 + 2 * 9 + 1);
    assert.deepEqual(checkGguf(path), { chatTemplate: CHATML_TEMPLATE });
  });

  test("the same seed writes the same bytes; another seed other weights", async () => {
    const [a, b, c] = [join(dir, "a.gguf"), join(dir, "b.gguf"), join(dir, "c.gguf")];
    await writeDemoModel(a);
    await writeDemoModel(b);
    await writeDemoModel(c, { seed: 5 });
    assert.ok((await readFile(a)).equals(await readFile(b)));
    assert.ok(!(await readFile(a)).equals(await readFile(c)));
  });

  test("the checker names what is wrong", async () => {
    const bad = async (edit: (m: ReturnType<typeof buildDemoModel>) => void, pattern: RegExp): Promise<void> => {
      const path = await written(edit);
      assert.throws(() => checkGguf(path), pattern);
    };
    const set = (key: string, v: GgufValue) => (m: ReturnType<typeof buildDemoModel>) => void m.metadata.set(key, v);
    await bad((m) => m.metadata.delete("llama.attention.head_count"), /llama\.attention\.head_count is missing/);
    await bad((m) => m.metadata.delete("general.architecture"), /general\.architecture is missing/);
    await bad(set("llama.block_count", { type: "string", value: "2" }), /llama\.block_count is not a number/);
    await bad(set("llama.attention.head_count", { type: "u32", value: 5 }), /not a multiple of llama\.attention\.head_count 5/);
    await bad(set("tokenizer.ggml.eos_token_id", { type: "u32", value: 99_999 }), /eos_token_id is outside the vocabulary/);
    await bad(set("tokenizer.ggml.model", { type: "string", value: "llama" }), /<0x00> is missing/);
    await bad((m) => m.metadata.delete("tokenizer.ggml.tokens"), /tokenizer\.ggml\.tokens is missing/);
    await bad((m) => void (m.tensors[0]!.name = "embeddings"), /has no token_embd\.weight tensor/);

    const version = join(dir, "v1.gguf");
    const bytes = await readFile(await written());
    bytes.writeUInt32LE(1, 4);
    await writeFile(version, bytes);
    assert.throws(() => checkGguf(version), /unsupported GGUF version 1/);
    bytes.writeUInt32LE(3, 4);
    bytes.writeBigUInt64LE(10n ** 12n, 8);
    await writeFile(version, bytes);
    assert.throws(() => checkGguf(version), /tensor count 1000000000000 is not plausible/);
    await writeFile(version, bytes.subarray(0, 10));
    assert.throws(() => checkGguf(version), /too short for a GGUF header/);
    assert.throws(() => checkGguf(dir), /not a regular file|EISDIR/);
  });
});
