// Serializes a GGUF v3 file (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md):
// header, metadata, tensor infos, then tensor data at `ALIGNMENT`-aligned offsets.
// Only what the demo model needs: scalar and array metadata, F32 tensors.
import { open } from "node:fs/promises";

/** GGUF metadata value types, by their numbers in the file. */
const GgufType = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12,
} as const;

/** A metadata value, tagged with the type it is written as. */
export type GgufValue =
  | { type: "u32" | "i32" | "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; itemType: "string"; value: readonly string[] }
  | { type: "array"; itemType: "i32"; value: readonly number[] };

/** One tensor: `dims` in ggml order (dims[0] is the row length, the fastest-varying axis). */
export interface GgufTensor {
  name: string;
  dims: readonly number[];
  data: Float32Array;
}

const GGUF_MAGIC = "GGUF";
const VERSION = 3;
/** The default alignment; written explicitly as `general.alignment` too. */
const ALIGNMENT = 32;
const GGML_TYPE_F32 = 0;

/** Builds the whole file in memory (the demo model is well under 1 MB) and writes it at `path`. */
export async function writeGguf(path: string, metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensor[]): Promise<void> {
  const out = new ByteWriter();
  out.raw(Buffer.from(GGUF_MAGIC, "latin1"));
  out.u32(VERSION);
  out.u64(tensors.length);
  out.u64(metadata.size + 1);
  out.string("general.alignment");
  out.u32(GgufType.u32);
  out.u32(ALIGNMENT);
  for (const [key, v] of metadata) {
    out.string(key);
    writeValue(out, v);
  }
  let offset = 0;
  for (const t of tensors) {
    const count = t.dims.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${t.name}: dims ${t.dims.join("x")} need ${count} values, got ${t.data.length}`);
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(GGML_TYPE_F32);
    out.u64(offset);
    offset = align(offset + t.data.byteLength);
  }
  out.pad();
  for (const t of tensors) {
    out.raw(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    out.pad();
  }
  const file = await open(path, "w");
  try {
    await file.writeFile(out.bytes());
  } finally {
    await file.close();
  }
}

function writeValue(out: ByteWriter, v: GgufValue): void {
  switch (v.type) {
    case "u32":
      out.u32(GgufType.u32);
      return out.u32(v.value);
    case "i32":
      out.u32(GgufType.i32);
      return out.i32(v.value);
    case "f32":
      out.u32(GgufType.f32);
      return out.f32(v.value);
    case "bool":
      out.u32(GgufType.bool);
      return out.u8(v.value ? 1 : 0);
    case "string":
      out.u32(GgufType.string);
      return out.string(v.value);
    case "array":
      out.u32(GgufType.array);
      out.u32(GgufType[v.itemType]);
      out.u64(v.value.length);
      if (v.itemType === "string") for (const s of v.value) out.string(s);
      else for (const n of v.value) out.i32(n);
  }
}

const align = (n: number): number => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

/** A growable little-endian byte buffer. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  private len = 0;

  u8(n: number): void {
    this.room(1);
    this.len = this.buf.writeUInt8(n, this.len);
  }
  u32(n: number): void {
    this.room(4);
    this.len = this.buf.writeUInt32LE(n, this.len);
  }
  i32(n: number): void {
    this.room(4);
    this.len = this.buf.writeInt32LE(n, this.len);
  }
  f32(n: number): void {
    this.room(4);
    this.len = this.buf.writeFloatLE(n, this.len);
  }
  u64(n: number): void {
    this.room(8);
    this.len = this.buf.writeBigUInt64LE(BigInt(n), this.len);
  }
  /** A GGUF string: u64 byte length, then UTF-8 bytes without a terminator. */
  string(s: string): void {
    const bytes = Buffer.from(s, "utf8");
    this.u64(bytes.length);
    this.raw(bytes);
  }
  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }
  /** Zero bytes up to the next alignment boundary (relative to the file start). */
  pad(): void {
    const target = align(this.len);
    this.room(target - this.len);
    this.buf.fill(0, this.len, target);
    this.len = target;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}
