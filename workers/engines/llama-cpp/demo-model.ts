// The demo model: a tiny llama-architecture GGUF with random weights that the
// project writes itself, since no model can be downloaded in CI. Its output is
// noise, but it runs real llama.cpp inference: tokenizer, chat template,
// sampling, grammars, embeddings. The vocabulary is byte-level BPE (`gpt2`):
// stop strings are unreliable with a SentencePiece-style vocab (DESIGN.md).
import { type GgufTensor, type GgufValue, writeGguf } from "./gguf-writer.js";

export interface DemoModelOptions {
  /** Seeds the weights; the same seed writes the same file. */
  seed?: number;
  contextLength?: number;
}

/** ChatML, the template most open chat models use; llama.cpp's chat wrapper picks it up from the metadata. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const EMBD = 64;
const LAYERS = 2;
const HEADS = 4;
const FFN = 128;
// Words become single tokens through BPE merges, so the model's noise reads as words.
const WORDS = (
  "the sea sky wind sun moon star rain snow cloud storm wave shore sand stone tree leaf root river lake " +
  "hill road city house door window light dark night day morning evening time year world life water fire " +
  "earth air bird fish wolf horse song voice word story dream heart mind hand eye face name home way path " +
  "and or but of to in on at by for with from over under after before near far deep high low old new " +
  "blue green red white black gold silver quiet loud slow fast warm cold soft bright calm wild open free " +
  "is was are were be see hear know find keep make take give come go run walk fly sing speak say tell hold"
).split(" ");
const SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;
const TOKEN_NORMAL = 1;
const TOKEN_CONTROL = 3;

/** The metadata and tensors of the demo model, for writing or for building broken variants in tests. */
export function buildDemoModel(opts: DemoModelOptions = {}): { metadata: Map<string, GgufValue>; tensors: GgufTensor[] } {
  const vocab = buildVocab();
  const n = vocab.tokens.length;
  const id = (t: string): number => vocab.tokens.indexOf(t);
  const metadata = new Map<string, GgufValue>([
    ["general.architecture", { type: "string", value: "llama" }],
    ["general.name", { type: "string", value: "demo (random weights, output is noise)" }],
    ["llama.context_length", { type: "u32", value: opts.contextLength ?? 2048 }],
    ["llama.embedding_length", { type: "u32", value: EMBD }],
    ["llama.block_count", { type: "u32", value: LAYERS }],
    ["llama.feed_forward_length", { type: "u32", value: FFN }],
    ["llama.attention.head_count", { type: "u32", value: HEADS }],
    ["llama.attention.head_count_kv", { type: "u32", value: HEADS }],
    ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: 1e-5 }],
    ["llama.rope.dimension_count", { type: "u32", value: EMBD / HEADS }],
    ["llama.rope.freq_base", { type: "f32", value: 10000 }],
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: "gpt-2" }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: vocab.tokens }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: vocab.types }],
    ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: vocab.merges }],
    ["tokenizer.ggml.bos_token_id", { type: "u32", value: id("<|endoftext|>") }],
    ["tokenizer.ggml.eos_token_id", { type: "u32", value: id("<|im_end|>") }],
    ["tokenizer.ggml.padding_token_id", { type: "u32", value: id("<|endoftext|>") }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: false }],
    ["tokenizer.chat_template", { type: "string", value: CHATML_TEMPLATE }],
  ]);

  const random = gaussian(opts.seed ?? 1234);
  const matrix = (cols: number, rows: number, scale: number): Float32Array => Float32Array.from({ length: cols * rows }, () => random() * scale);
  const ones = (len: number): Float32Array => new Float32Array(len).fill(1);
  const tensors: GgufTensor[] = [{ name: "token_embd.weight", dims: [EMBD, n], data: matrix(EMBD, n, 1) }];
  const w = 1 / Math.sqrt(EMBD);
  for (let b = 0; b < LAYERS; b++) {
    tensors.push(
      { name: `blk.${b}.attn_norm.weight`, dims: [EMBD], data: ones(EMBD) },
      { name: `blk.${b}.attn_q.weight`, dims: [EMBD, EMBD], data: matrix(EMBD, EMBD, w) },
      { name: `blk.${b}.attn_k.weight`, dims: [EMBD, EMBD], data: matrix(EMBD, EMBD, w) },
      { name: `blk.${b}.attn_v.weight`, dims: [EMBD, EMBD], data: matrix(EMBD, EMBD, w) },
      { name: `blk.${b}.attn_output.weight`, dims: [EMBD, EMBD], data: matrix(EMBD, EMBD, w) },
      { name: `blk.${b}.ffn_norm.weight`, dims: [EMBD], data: ones(EMBD) },
      { name: `blk.${b}.ffn_gate.weight`, dims: [EMBD, FFN], data: matrix(EMBD, FFN, w) },
      { name: `blk.${b}.ffn_up.weight`, dims: [EMBD, FFN], data: matrix(EMBD, FFN, w) },
      { name: `blk.${b}.ffn_down.weight`, dims: [FFN, EMBD], data: matrix(FFN, EMBD, 1 / Math.sqrt(FFN)) },
    );
  }
  tensors.push({ name: "output_norm.weight", dims: [EMBD], data: ones(EMBD) });
  // Per-token scales on the output rows: whole words dominate the logits, word
  // pieces and raw bytes are rare, and <|im_end|> wins now and then, so answers
  // are word salad of varied length (median about 40 tokens at temperature 1,
  // measured). Other special tokens never win.
  const output = new Float32Array(EMBD * n);
  vocab.tokens.forEach((token, t) => {
    const scale = vocab.words.has(token) ? 0.3 : token === "<|im_end|>" ? 0.35 : t < n - SPECIALS.length ? 0.05 : 0;
    for (let i = 0; i < EMBD; i++) output[t * EMBD + i] = random() * scale;
  });
  tensors.push({ name: "output.weight", dims: [EMBD, n], data: output });
  return { metadata, tensors };
}

/** Writes the demo model as a GGUF file at `path`. */
export async function writeDemoModel(path: string, opts: DemoModelOptions = {}): Promise<void> {
  const { metadata, tensors } = buildDemoModel(opts);
  await writeGguf(path, metadata, tensors);
}

/**
 * GPT-2's byte-level vocabulary: the 256 bytes as printable characters (its
 * bytes_to_unicode table), then merges that build each word with a leading
 * space ("Ġ") piece by piece, then the special tokens.
 */
function buildVocab(): { tokens: string[]; types: number[]; merges: string[]; words: Set<string> } {
  const tokens = byteChars();
  const known = new Set(tokens);
  const merges: string[] = [];
  const words = new Set<string>();
  for (const word of WORDS) {
    let piece = "Ġ";
    for (const ch of word) {
      const next = piece + ch;
      if (!known.has(next)) {
        merges.push(`${piece} ${ch}`);
        tokens.push(next);
        known.add(next);
      }
      piece = next;
    }
    words.add(piece);
  }
  const types = tokens.map(() => TOKEN_NORMAL);
  for (const s of SPECIALS) {
    tokens.push(s);
    types.push(TOKEN_CONTROL);
  }
  return { tokens, types, merges, words };
}

// bytes_to_unicode from GPT-2's encoder.py: printable bytes map to themselves,
// the others to code points from 256 up, so every byte is a visible character.
function byteChars(): string[] {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + extra++));
}

/** A seeded standard normal generator (mulberry32 + Box-Muller). */
function gaussian(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 0x100000001;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}
