// Fits a JSON schema into a byte budget: every string, number, array and open
// object gets a bound, so the longest answer the grammar allows is at most
// `budget` UTF-8 bytes. A grammar cannot change mid-generation, so the bounds
// must hold for the worst case, not the likely one. Bytes, not characters: a
// byte-level vocab can spend one token per byte, and one JSON character can be
// six bytes (`\u00e9`). The cost model counts one optional space after each
// `:` and `,` (the grammar allows exactly that much whitespace).
import { BrokerError } from "../../../contract/mod.js";

/** A bounded JSON value, ready to be written as a grammar (gbnf.ts). */
export type JsonNode =
  | { kind: "lit"; values: string[] } // serialized JSON alternatives: const, enum, true/false, null
  | { kind: "str"; min: number; units: number; bytes: number } // min..min+units string chars of any width, then up to `bytes` more bytes
  | { kind: "format"; format: Format }
  | { kind: "num"; digits: number; fraction: number } // up to `digits` integer digits, `fraction` decimals (0: an integer)
  | { kind: "arr"; prefix: JsonNode[]; items: Repeat | undefined }
  | { kind: "obj"; props: [string, JsonNode][]; extra: Repeat | undefined }
  | { kind: "or"; alts: JsonNode[] };
/** `min`..`max` repeated elements; an object's also have a `key`. */
export interface Repeat {
  key?: JsonNode;
  value: JsonNode;
  min: number;
  max: number;
}
export type Format = "date" | "time" | "date-time";

/** Longest serialization of each format as gbnf.ts writes it, quotes included. */
export const FORMAT_BYTES: Record<Format, number> = { date: 12, time: 20, "date-time": 31 };
// A string char is at most six bytes (the `\uXXXX` escape).
const CHAR_BYTES = 6;
// Caps that keep a huge max_tokens from making a huge grammar: one string's
// byte chain is one grammar rule per byte.
const MAX_STRING_BYTES = 8192;
const MAX_DIGITS = 16; // fraction digits, as node-llama-cpp's own number rule
// Integer digits: 15 always make a safe integer (< 2^53), which clients read exactly; 16 may not, and
// zod's int() in the openai SDK refused a 16-digit count the demo model wrote.
const MAX_INT_DIGITS = 15;
const MAX_REPEAT = 64; // array items or extra object properties when the schema gives no maxItems / maxProperties
const ITEM_TARGET = 24; // with little room, fewer but usable items rather than many empty ones
const KEY_BYTES = 32; // an extra property's name
const ANY_DEPTH = 2; // nesting of a free JSON value (json_object, additionalProperties: true)
const MAX_DEPTH = 32;
const MAX_STEPS = 50_000;
const HUGE = 1 << 24;

type Schema = Readonly<Record<string, unknown>>;

/** A free JSON value nested at most `depth` levels below here. */
function anySchema(depth: number): Schema {
  const scalars: Schema[] = [{ type: "string" }, { type: "number" }, { type: ["boolean", "null"] }];
  if (depth === 0) return { oneOf: scalars };
  const inner = anySchema(depth - 1);
  return { oneOf: [...scalars, { type: "array", items: inner }, { type: "object", additionalProperties: inner }] };
}
const ANY = anySchema(ANY_DEPTH);
/** response_format json_object: an object of free values. */
export const JSON_OBJECT_SCHEMA: Schema = { type: "object", additionalProperties: ANY };
const KEY: Schema = { type: "string" };

class TooDeep extends Error {}

/** What `bound` made: the node, its worst-case bytes, and whether that fits the budget. */
export interface Bounded {
  node: JsonNode;
  cost: number;
  fits: boolean;
}

/**
 * Bounds `schema` so its longest answer is at most `budget` bytes. When even
 * the shortest answer does not fit, returns the tightest bounds with `fits`
 * false. Throws BrokerError("invalid_request") for a schema it cannot bound.
 */
export function bound(schema: unknown, budget: number, param: string): Bounded {
  const b = new Bounder(schema, param);
  try {
    let node = b.build(asSchema(schema), Math.max(0, budget), 0);
    // The allocation keeps within budget by construction; checking costs one walk and keeps that promise honest.
    if (cost(node) > budget) node = b.build(asSchema(schema), 0, 0);
    return { node, cost: cost(node), fits: cost(node) <= budget };
  } catch (err) {
    if (err instanceof TooDeep) throw new BrokerError("invalid_request", `${param}: this JSON schema nests deeper than ${MAX_DEPTH} levels or recurses without end`, { param });
    throw err;
  }
}

/** The most bytes `node` can serialize to. */
export function cost(node: JsonNode): number {
  switch (node.kind) {
    case "lit":
      return Math.max(...node.values.map(bytes));
    case "str":
      return 2 + CHAR_BYTES * (node.min + node.units) + node.bytes;
    case "format":
      return FORMAT_BYTES[node.format];
    case "num":
      return 1 + node.digits + (node.fraction > 0 ? 1 + node.fraction : 0);
    case "or":
      return Math.max(...node.alts.map(cost));
    case "arr":
      return container(node.prefix.map(cost), node.items, 0);
    case "obj":
      return container(
        node.props.map(([k, v]) => bytes(JSON.stringify(k)) + 2 + cost(v)),
        node.extra,
        node.extra?.key ? cost(node.extra.key) + 2 : 0,
      );
  }
}

/** Brackets, the fixed members, `max` repeated ones, and `, ` between members. */
function container(fixed: number[], rep: Repeat | undefined, keyCost: number): number {
  const n = fixed.length + (rep?.max ?? 0);
  const repeated = rep ? rep.max * (keyCost + cost(rep.value)) : 0;
  return 2 + fixed.reduce((a, c) => a + c, 0) + repeated + 2 * Math.max(0, n - 1);
}

const bytes = (s: string): number => Buffer.byteLength(s, "utf8");

class Bounder {
  private readonly defs: Record<string, unknown>;
  private readonly mins = new Map<Schema, number>();
  private readonly wants = new Map<Schema, number>();
  private steps = 0;

  constructor(
    root: unknown,
    private readonly param: string,
  ) {
    const r = asSchema(root);
    this.defs = { ...asRecord(r.definitions), ...asRecord(r.$defs) };
  }

  /** The bounded node for `s` within `b` bytes, or its smallest form when `b` is too little. */
  build(s: Schema, b: number, depth: number): JsonNode {
    if (depth > MAX_DEPTH) throw new TooDeep();
    if (++this.steps > MAX_STEPS) throw new BrokerError("invalid_request", `${this.param}: this JSON schema is too large to bound`, { param: this.param });
    if (typeof s.$ref === "string") return this.build(this.ref(s.$ref), b, depth + 1);
    if ("const" in s) return { kind: "lit", values: [JSON.stringify(s.const)] };
    if (Array.isArray(s.enum) && s.enum.length > 0) return literals(s.enum.map((v) => JSON.stringify(v)), b);
    if (Array.isArray(s.oneOf) && s.oneOf.length > 0) return this.or(s.oneOf.map(asSchema), b, depth);
    const type = s.type;
    if (Array.isArray(type)) return this.or(type.map((t) => ({ ...s, type: t })), b, depth);
    switch (type) {
      case "string":
        return typeof s.format === "string" && s.format in FORMAT_BYTES ? { kind: "format", format: s.format as Format } : stringNode(s, b);
      case "number":
      case "integer":
        return numberNode(type === "integer", b);
      case "boolean":
        return { kind: "lit", values: ["true", "false"] };
      case "null":
        return { kind: "lit", values: ["null"] };
      case "array":
        return this.array(s, b, depth);
      case "object":
        return this.object(s, b, depth);
      case undefined:
        // No type: JSON Schema's "anything", unless it lists properties.
        return s.properties ? this.object(s, b, depth) : this.build(ANY, b, depth + 1);
      default:
        return { kind: "lit", values: ["null"] }; // as node-llama-cpp does for a type it does not know
    }
  }

  private ref(ref: string): Schema {
    const name = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref)?.[1];
    const def = name === undefined ? undefined : this.defs[name];
    if (def === undefined) throw new BrokerError("invalid_request", `${this.param}: $ref ${ref} does not name a definition in $defs`, { param: this.param });
    return asSchema(def);
  }

  /** The smallest bytes `s` can take. */
  private min(s: Schema, depth: number): number {
    let m = this.mins.get(s);
    if (m === undefined) this.mins.set(s, (m = cost(this.build(s, 0, depth))));
    return m;
  }

  /** The most bytes `s` could use with no budget at all (its own and our caps). */
  private want(s: Schema, depth: number): number {
    let w = this.wants.get(s);
    if (w === undefined) {
      try {
        w = cost(this.build(s, HUGE, depth));
      } catch (err) {
        if (!(err instanceof TooDeep)) throw err;
        w = HUGE; // recursive: it could use any budget
      }
      this.wants.set(s, w);
    }
    return w;
  }

  /** Only the alternatives that fit; the cheapest alone when none does. */
  private or(alts: Schema[], b: number, depth: number): JsonNode {
    const sized: { s: Schema; min: number }[] = [];
    for (const s of alts) {
      try {
        sized.push({ s, min: this.min(s, depth + 1) });
      } catch (err) {
        if (!(err instanceof TooDeep)) throw err; // a recursive branch that cannot end here is left out
      }
    }
    if (sized.length === 0) throw new TooDeep();
    const fitting = sized.filter((a) => a.min <= b);
    const chosen = fitting.length > 0 ? fitting : [sized.reduce((x, y) => (y.min < x.min ? y : x))];
    return { kind: "or", alts: chosen.map((a) => this.build(a.s, Math.max(b, a.min), depth + 1)) };
  }

  private array(s: Schema, b: number, depth: number): JsonNode {
    const prefix = Array.isArray(s.prefixItems) ? s.prefixItems.map(asSchema) : [];
    const item = s.items === false ? undefined : s.items === undefined || s.items === true ? ANY : asSchema(s.items);
    const min = Math.max(0, num(s.minItems) - prefix.length);
    const max = item ? Math.max(min, (s.maxItems === undefined ? prefix.length + MAX_REPEAT : num(s.maxItems)) - prefix.length) : 0;
    const { fixed, rep } = this.members(
      prefix.map((p) => ({ s: p, over: 2 })),
      item && max > 0 ? { value: item, min, max } : undefined,
      b - 2,
      depth,
    );
    return { kind: "arr", prefix: fixed, items: rep };
  }

  private object(s: Schema, b: number, depth: number): JsonNode {
    const props = Object.entries(asRecord(s.properties)).map(([k, v]) => ({ k, s: asSchema(v), over: bytes(JSON.stringify(k)) + 4 }));
    const extra = s.additionalProperties === true ? ANY : s.additionalProperties ? asSchema(s.additionalProperties) : undefined;
    const min = Math.max(0, num(s.minProperties) - props.length);
    const max = extra ? Math.max(min, (s.maxProperties === undefined ? props.length + MAX_REPEAT : num(s.maxProperties)) - props.length) : 0;
    const { fixed, rep } = this.members(props, extra && max > 0 ? { value: extra, key: KEY, min, max } : undefined, b - 2, depth);
    return { kind: "obj", props: props.map((p, i) => [p.k, fixed[i]!]), extra: rep };
  }

  /**
   * Shares `b` bytes among fixed members (each costs `over` bytes besides its
   * value: key, `: `, `, `) and a group of repeated ones, smallest needs first.
   */
  private members(
    fixed: { s: Schema; over: number }[],
    group: { value: Schema; key?: Schema; min: number; max: number } | undefined,
    b: number,
    depth: number,
  ): { fixed: JsonNode[]; rep: Repeat | undefined } {
    const d = depth + 1;
    const parts = fixed.map((f) => ({ min: f.over + this.min(f.s, d), want: f.over + this.want(f.s, d) }));
    const nodes = (given: number[]): JsonNode[] => fixed.map((f, i) => this.build(f.s, given[i]! - f.over, d));
    if (!group) return { fixed: nodes(share(parts, b)), rep: undefined };
    try {
      return this.repeated(parts, nodes, group, b, d);
    } catch (err) {
      // A recursive schema (a tree through $ref) stops here with no more members, where it may.
      if (!(err instanceof TooDeep) || group.min > 0) throw err;
      return { fixed: nodes(share(parts, b)), rep: undefined };
    }
  }

  private repeated(
    parts: { min: number; want: number }[],
    nodes: (given: number[]) => JsonNode[],
    group: { value: Schema; key?: Schema; min: number; max: number },
    b: number,
    d: number,
  ): { fixed: JsonNode[]; rep: Repeat | undefined } {
    // One repeated member: `, ` plus its key (with `: `) and value.
    const keyMin = group.key ? this.min(group.key, d) + 2 : 0;
    const unitMin = 2 + keyMin + this.min(group.value, d);
    const unitWant = 2 + (group.key ? KEY_BYTES + 4 : 0) + this.want(group.value, d);
    const given = share([...parts, { min: group.min * unitMin, want: group.max * unitWant }], b);
    const fixed = nodes(given);
    const g = given[parts.length]!;
    // As many members as each can have ITEM_TARGET bytes (or all it wants), within the schema's bounds.
    const target = Math.min(unitWant, Math.max(unitMin, ITEM_TARGET));
    const count = clamp(Math.min(Math.floor(g / target), Math.floor(g / Math.max(1, unitMin))), group.min, group.max);
    if (count === 0) return { fixed, rep: undefined };
    const each = Math.floor(g / count) - 2;
    const value = this.min(group.value, d);
    if (!group.key) return { fixed, rep: { value: this.build(group.value, each, d), min: group.min, max: count } };
    const keyBudget = clamp(Math.floor(each / 4), keyMin - 2, Math.min(KEY_BYTES + 2, each - 2 - value));
    return {
      fixed,
      rep: { key: this.build(group.key, keyBudget, d), value: this.build(group.value, each - 2 - keyBudget, d), min: group.min, max: count },
    };
  }
}

/**
 * Budgets for parts with a least (`min`) and a most useful (`want`) size: each
 * gets its min, then the rest is split evenly, and what a part cannot use goes
 * to the parts that want more.
 */
export function share(parts: readonly { min: number; want: number }[], budget: number): number[] {
  const out = parts.map((p) => p.min);
  let left = budget - out.reduce((a, c) => a + c, 0);
  const open = parts.map((_, i) => i).sort((i, j) => parts[i]!.want - parts[i]!.min - (parts[j]!.want - parts[j]!.min));
  open.forEach((i, n) => {
    const give = Math.max(0, Math.min(Math.floor(left / (open.length - n)), parts[i]!.want - parts[i]!.min));
    out[i]! += give;
    left -= give;
  });
  return out;
}

function stringNode(s: Schema, b: number): JsonNode {
  const min = num(s.minLength);
  const room = Math.max(0, b - 2 - CHAR_BYTES * min);
  const rest = typeof s.maxLength === "number" ? Math.max(0, Math.floor(s.maxLength) - min) : undefined;
  // The schema's own maxLength in characters when even six-byte characters fit; else a byte bound,
  // never more bytes than characters allowed (a byte is at most one character).
  if (rest !== undefined && CHAR_BYTES * rest <= room) return { kind: "str", min, units: rest, bytes: 0 };
  return { kind: "str", min, units: 0, bytes: Math.min(room, rest ?? MAX_STRING_BYTES, MAX_STRING_BYTES) };
}

function numberNode(integer: boolean, b: number): JsonNode {
  // "-" then digits; a fraction needs "." and a digit more, so only with five bytes or more.
  if (integer || b < 5) return { kind: "num", digits: clamp(b - 1, 1, MAX_INT_DIGITS), fraction: 0 };
  const fraction = Math.min(MAX_DIGITS, Math.floor((b - 3) / 2));
  return { kind: "num", digits: clamp(b - 2 - fraction, 1, MAX_INT_DIGITS), fraction };
}

/** The enum values that fit in `b` bytes, or the shortest one. */
function literals(values: string[], b: number): JsonNode {
  const fit = values.filter((v) => bytes(v) <= b);
  return { kind: "lit", values: fit.length > 0 ? fit : [values.reduce((x, y) => (bytes(y) < bytes(x) ? y : x))] };
}

const clamp = (n: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, n));
const num = (v: unknown): number => (typeof v === "number" && v > 0 ? Math.floor(v) : 0);
const asRecord = (v: unknown): Record<string, unknown> => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
// `true` is JSON Schema's "anything"; `false` has no valid value, and null is the closest we can write.
const asSchema = (v: unknown): Schema => (v === true ? ANY : v === false ? { type: "null" } : asRecord(v));
