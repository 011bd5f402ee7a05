// Writes a bounded JSON node (json-budget.ts) as a llama.cpp GBNF grammar.
// Whitespace is one optional space after `:` and `,`, and nothing else, so the
// answer has no newline: the root ends with one, which is the stop trigger.
// Grammar syntax: https://github.com/ggml-org/llama.cpp/blob/master/grammars/README.md
import type { Format, JsonNode, Repeat } from "./json-budget.js";

// One JSON string char, as node-llama-cpp writes it: anything but `"`, `\` and
// control characters, or an escape.
const CHAR = `[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" ["\\\\/bfnrt] | "\\\\u" [0-9a-fA-F]{4}`;
// The same chars by their UTF-8 size, for strings bounded in bytes.
const BY_SIZE: [number, string][] = [
  [1, `[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E]`],
  [2, `"\\\\" ["\\\\/bfnrt]`],
  [2, `[\\u0080-\\u07FF]`],
  [3, `[\\u0800-\\uFFFF]`],
  [4, `[\\U00010000-\\U0010FFFF]`],
  [6, `"\\\\u" [0-9a-fA-F]{4}`],
];
const DIGITS2 = "[0-9] [0-9]";
const DATE = `[0-9] [0-9] [0-9] [0-9] "-" ${DIGITS2} "-" ${DIGITS2}`;
const TIME = `${DIGITS2} ":" ${DIGITS2} ":" ${DIGITS2} ("." [0-9]{1,3})? ("Z" | [+-] ${DIGITS2} ":" ${DIGITS2})`;
const FORMATS: Record<Format, string> = { date: `"\\"" ${DATE} "\\""`, time: `"\\"" ${TIME} "\\""`, "date-time": `"\\"" ${DATE} "T" ${TIME} "\\""` };
const SEP = `"," " "?`;

/** The grammar text: `root` is the node followed by one newline. */
export function toGbnf(node: JsonNode): string {
  return new Writer().write(node);
}

class Writer {
  private readonly rules = new Map<string, string>(); // body → name, so equal parts share one rule
  private chain = 0; // longest byte-bounded string content: rules b1..bN

  write(root: JsonNode): string {
    const top = this.expr(root);
    const lines = [`root ::= ${top} "\\n"`, `char ::= ${CHAR}`];
    for (const [body, name] of this.rules) lines.push(`${name} ::= ${body}`);
    // b-k: at most k bytes of string content.
    for (let k = 1; k <= this.chain; k++) {
      const alts = BY_SIZE.filter(([size]) => size <= k).map(([size, ch]) => (size === k ? ch : `${ch} b${k - size}`));
      lines.push(`b${k} ::= (${alts.join(" | ")})?`);
    }
    return lines.join("\n") + "\n";
  }

  private rule(body: string): string {
    let name = this.rules.get(body);
    if (!name) this.rules.set(body, (name = `n${this.rules.size}`));
    return name;
  }

  private expr(node: JsonNode): string {
    switch (node.kind) {
      case "lit":
        return node.values.length === 1 ? literal(node.values[0]!) : `(${node.values.map(literal).join(" | ")})`;
      case "format":
        return this.rule(FORMATS[node.format]);
      case "str": {
        const parts = ['"\\""'];
        if (node.min + node.units > 0) parts.push(`char${repeat(node.min, node.min + node.units)}`);
        if (node.bytes > 0) parts.push(`b${node.bytes}`);
        this.chain = Math.max(this.chain, node.bytes);
        parts.push('"\\""');
        return this.rule(parts.join(" "));
      }
      case "num": {
        const int = node.digits === 1 ? "[0-9]" : `("0" | [1-9] [0-9]${repeat(0, node.digits - 1)})`;
        return this.rule(`"-"? ${int}${node.fraction > 0 ? ` ("." [0-9]${repeat(1, node.fraction)})` + "?" : ""}`);
      }
      case "or":
        return node.alts.length === 1 ? this.expr(node.alts[0]!) : this.rule(node.alts.map((a) => this.expr(a)).join(" | "));
      case "arr":
        return this.rule(members('"["', node.prefix.map((p) => this.expr(p)), node.items && this.member(node.items), node.items, '"]"'));
      case "obj": {
        const props = node.props.map(([k, v]) => `${literal(JSON.stringify(k))} ":" " "? ${this.expr(v)}`);
        return this.rule(members('"{"', props, node.extra && this.member(node.extra), node.extra, '"}"'));
      }
    }
  }

  private member(rep: Repeat): string {
    return rep.key ? `${this.expr(rep.key)} ":" " "? ${this.expr(rep.value)}` : this.expr(rep.value);
  }
}

/** `open fixed, fixed, rep{min,max} close` with `, ` between members. */
function members(open: string, fixed: string[], one: string | undefined, rep: Repeat | undefined, close: string): string {
  const parts = [open, fixed.join(` ${SEP} `)];
  if (one && rep) {
    const more = (lo: number, hi: number): string => (hi > 0 ? `(${SEP} ${one})${repeat(lo, hi)}` : "");
    if (fixed.length > 0) parts.push(more(rep.min, rep.max));
    else if (rep.min > 0) parts.push(one, more(rep.min - 1, rep.max - 1));
    else parts.push(`(${one} ${more(0, rep.max - 1)})?`);
  }
  parts.push(close);
  return parts.filter((p) => p.trim() !== "").join(" ");
}

/** `{lo,hi}`, written out the short way. */
function repeat(lo: number, hi: number): string {
  if (lo === hi) return lo === 1 ? "" : `{${lo}}`;
  return lo === 0 && hi === 1 ? "?" : `{${lo},${hi}}`;
}

/** A GBNF string literal for `text`. */
function literal(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t")}"`;
}
