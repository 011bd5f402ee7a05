// Reads and checks a GGUF file's header, metadata and tensor table before
// llama.cpp sees it: llama.cpp aborts the whole process (GGML_ASSERT) on some
// malformed files instead of throwing, which would take a worker down with
// every job it holds. Reads synchronously: it runs once, at engine start.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/** What the engine needs from a model file that passed the check. */
export interface GgufSummary {
  /** The Jinja chat template from the metadata; null when there is none. */
  chatTemplate: string | null;
}

/** A file that llama.cpp must not be given; the message says what is wrong with it. */
export class GgufFormatError extends Error {}

type Value = number | bigint | boolean | string | readonly Value[];

// Keys llama.cpp reads without a fallback (DESIGN.md: a missing feed_forward_length
// or head_count aborts rather than throws), per architecture prefix.
const REQUIRED_ARCH_KEYS = ["context_length", "embedding_length", "block_count"];
const REQUIRED_ATTENTION_KEYS = ["feed_forward_length", "attention.head_count"];
const RECURRENT_ARCHS = new Set(["mamba", "mamba2", "rwkv6", "rwkv7", "rwkv6qwen2", "rwkv7qwen2"]);
const LIMIT = 1_000_000; // more tensors or keys than this is garbage, not a model
const CHUNK = 1 << 20;

// Bytes per block and values per block of the ggml tensor types (ggml.c's type_traits),
// to check that every tensor's data lies inside the file. Unknown types skip that check.
const BLOCKS: Readonly<Record<number, readonly [bytes: number, values: number]>> = {
  0: [4, 1], 1: [2, 1], 2: [18, 32], 3: [20, 32], 6: [22, 32], 7: [24, 32], 8: [34, 32], 9: [36, 32],
  10: [84, 256], 11: [110, 256], 12: [144, 256], 13: [176, 256], 14: [210, 256], 15: [292, 256],
  16: [66, 256], 17: [74, 256], 18: [98, 256], 19: [50, 256], 20: [18, 32], 21: [110, 256], 22: [82, 256],
  23: [136, 256], 24: [1, 1], 25: [2, 1], 26: [4, 1], 27: [8, 1], 28: [8, 1], 29: [56, 256], 30: [2, 1],
  34: [54, 256], 35: [66, 256], 39: [17, 32],
};

/** Checks `path`; throws GgufFormatError (or a file system error) when llama.cpp should not load it. */
export function checkGguf(path: string): GgufSummary {
  const fd = openSync(path, "r");
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new GgufFormatError("not a regular file");
    return parse(new Reader(fd, stat.size));
  } finally {
    closeSync(fd);
  }
}

function parse(r: Reader): GgufSummary {
  if (r.size < 24) throw new GgufFormatError(`too short for a GGUF header (${r.size} bytes)`);
  const magic = r.bytes(4).toString("latin1");
  if (magic !== "GGUF") throw new GgufFormatError(`not a GGUF file (starts with ${JSON.stringify(magic)}, expected "GGUF")`);
  const version = r.u32();
  if (version !== 2 && version !== 3) throw new GgufFormatError(`unsupported GGUF version ${version} (llama.cpp reads 2 and 3)`);
  const tensorCount = r.count("tensor count");
  const kvCount = r.count("metadata key count");

  const meta = new Map<string, Value>();
  for (let i = 0; i < kvCount; i++) {
    const key = r.string();
    meta.set(key, r.value(r.u32(), key));
  }
  const arch = str(meta, "general.architecture");
  const numeric = [...REQUIRED_ARCH_KEYS, ...(RECURRENT_ARCHS.has(arch) ? [] : REQUIRED_ATTENTION_KEYS)];
  for (const k of numeric) num(meta, `${arch}.${k}`);
  if (arch === "llama") {
    const embd = num(meta, "llama.embedding_length");
    const heads = num(meta, "llama.attention.head_count");
    num(meta, "llama.attention.layer_norm_rms_epsilon");
    const kvHeads = meta.has("llama.attention.head_count_kv") ? num(meta, "llama.attention.head_count_kv") : heads;
    if (heads <= 0 || embd % heads !== 0) throw new GgufFormatError(`llama.embedding_length ${embd} is not a multiple of llama.attention.head_count ${heads}`);
    if (kvHeads <= 0 || heads % kvHeads !== 0) throw new GgufFormatError(`llama.attention.head_count ${heads} is not a multiple of head_count_kv ${kvHeads}`);
  }
  checkVocab(meta);

  const alignment = meta.has("general.alignment") ? num(meta, "general.alignment") : 32;
  if (alignment <= 0 || (alignment & (alignment - 1)) !== 0) throw new GgufFormatError(`general.alignment ${alignment} is not a power of two`);
  let dataEnd = 0;
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = r.string();
    const dims = r.u32();
    if (dims < 1 || dims > 4) throw new GgufFormatError(`tensor ${name} has ${dims} dimensions`);
    let values = 1;
    for (let d = 0; d < dims; d++) values *= r.u64("tensor dimension");
    const type = r.u32();
    const offset = r.u64("tensor offset");
    const block = BLOCKS[type];
    if (offset % alignment !== 0) throw new GgufFormatError(`tensor ${name} is not aligned to ${alignment} bytes`);
    dataEnd = Math.max(dataEnd, offset + (block ? Math.ceil(values / block[1]) * block[0] : 1));
    names.add(name);
  }
  // A model split over several files (split.count) may keep this tensor in another part.
  const split = meta.has("split.count") && num(meta, "split.count") > 1;
  if (!split && !names.has("token_embd.weight")) throw new GgufFormatError("has no token_embd.weight tensor");
  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  if (dataStart + dataEnd > r.size) {
    throw new GgufFormatError(`is truncated: tensor data needs ${dataStart + dataEnd} bytes, the file has ${r.size}`);
  }
  const template = meta.get("tokenizer.chat_template");
  return { chatTemplate: typeof template === "string" && template.trim() !== "" ? template : null };
}

function checkVocab(meta: Map<string, Value>): void {
  const model = str(meta, "tokenizer.ggml.model");
  const tokens = meta.get("tokenizer.ggml.tokens");
  if (model === "none") return; // embedding-only models may have no vocabulary
  if (!Array.isArray(tokens) || tokens.length === 0 || typeof tokens[0] !== "string") {
    throw new GgufFormatError("metadata key tokenizer.ggml.tokens is missing or not an array of strings");
  }
  if (model === "llama") {
    const have = new Set(tokens);
    for (let b = 0; b < 256; b++) {
      const t = `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
      if (!have.has(t)) throw new GgufFormatError(`a "llama" vocabulary must hold the 256 byte tokens; ${t} is missing`);
    }
  }
  if (model === "gpt2") {
    if (!Array.isArray(meta.get("tokenizer.ggml.merges"))) throw new GgufFormatError('metadata key tokenizer.ggml.merges is missing (a "gpt2" vocabulary needs it)');
    str(meta, "tokenizer.ggml.pre");
  }
  for (const k of ["bos", "eos", "padding"]) {
    const key = `tokenizer.ggml.${k}_token_id`;
    if (meta.has(key) && num(meta, key) >= tokens.length) throw new GgufFormatError(`${key} is outside the vocabulary of ${tokens.length} tokens`);
  }
}

function str(meta: Map<string, Value>, key: string): string {
  const v = meta.get(key);
  if (v === undefined) throw new GgufFormatError(`metadata key ${key} is missing`);
  if (typeof v !== "string") throw new GgufFormatError(`metadata key ${key} is not a string`);
  return v;
}

function num(meta: Map<string, Value>, key: string): number {
  const v = meta.get(key);
  if (v === undefined) throw new GgufFormatError(`metadata key ${key} is missing`);
  if (typeof v !== "number" && typeof v !== "bigint") throw new GgufFormatError(`metadata key ${key} is not a number`);
  return Number(v);
}

/** A bounds-checked little-endian reader over a file, a chunk at a time. */
class Reader {
  pos = 0;
  private buf = Buffer.alloc(0);
  private bufAt = 0;

  constructor(private readonly fd: number, readonly size: number) {}

  bytes(n: number): Buffer {
    this.ensure(n);
    if (this.pos < this.bufAt || this.pos + n > this.bufAt + this.buf.length) {
      this.buf = Buffer.alloc(Math.min(Math.max(n, CHUNK), this.size - this.pos));
      readSync(this.fd, this.buf, 0, this.buf.length, this.pos);
      this.bufAt = this.pos;
    }
    const at = this.pos - this.bufAt;
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }
  skip(n: number): void {
    this.ensure(n);
    this.pos += n;
  }
  private ensure(n: number): void {
    if (n > this.size - this.pos) throw new GgufFormatError(`is truncated: needs ${n} bytes at offset ${this.pos}, the file has ${this.size}`);
  }
  u32(): number {
    return this.bytes(4).readUInt32LE(0);
  }
  u64(what: string): number {
    const v = this.bytes(8).readBigUInt64LE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufFormatError(`${what} ${v} is out of range at offset ${this.pos - 8}`);
    return Number(v);
  }
  count(what: string): number {
    const n = this.u64(what);
    if (n > LIMIT) throw new GgufFormatError(`${what} ${n} is not plausible`);
    return n;
  }
  string(): string {
    return this.bytes(this.u64("string length")).toString("utf8");
  }
  value(type: number, key: string): Value {
    switch (type) {
      case 0: return this.bytes(1).readUInt8(0);
      case 1: return this.bytes(1).readInt8(0);
      case 2: return this.bytes(2).readUInt16LE(0);
      case 3: return this.bytes(2).readInt16LE(0);
      case 4: return this.u32();
      case 5: return this.bytes(4).readInt32LE(0);
      case 6: return this.bytes(4).readFloatLE(0);
      case 7: return this.bytes(1).readUInt8(0) !== 0;
      case 8: return this.string();
      case 9: {
        const itemType = this.u32();
        const n = this.u64(`length of ${key}`);
        const size = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8][itemType];
        if (size === undefined) throw new GgufFormatError(`metadata key ${key} has an unknown array type ${itemType}`);
        // Numeric arrays (scores, token types) are skipped, not decoded: only their length matters here.
        if (size > 0) {
          this.skip(n * size);
          return [];
        }
        const items: Value[] = [];
        for (let i = 0; i < n; i++) items.push(this.value(itemType, key));
        return items;
      }
      case 10: return this.bytes(8).readBigUInt64LE(0);
      case 11: return this.bytes(8).readBigInt64LE(0);
      case 12: return this.bytes(8).readDoubleLE(0);
      default: throw new GgufFormatError(`metadata key ${key} has an unknown type ${type}`);
    }
  }
}
