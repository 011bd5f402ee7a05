// The byte bounds behind grammar answers: for every budget the longest answer
// fits, and "does not fit" means exactly that the shortest answer is larger.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrokerError } from "../../contract/errors.js";
import { toGbnf } from "../../workers/engines/llama-cpp/gbnf.js";
import { bound, JSON_OBJECT_SCHEMA, share, type JsonNode } from "../../workers/engines/llama-cpp/json-budget.js";
import { bucket } from "../../workers/engines/llama-cpp/structured.js";

const SCHEMAS: Record<string, unknown> = {
  call: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } } },
  nested: {
    type: "object",
    properties: {
      title: { type: "string", minLength: 2 },
      score: { type: "number" },
      tags: { type: "array", items: { type: "string" }, minItems: 1 },
      kind: { enum: ["a", "bb", "a much longer value"] },
      when: { type: "string", format: "date-time" },
      maybe: { type: ["string", "null"] },
      meta: { type: "object", additionalProperties: true },
    },
  },
  pick: { oneOf: [{ type: "object", properties: { name: { const: "f" }, arguments: { type: "object", properties: { q: { type: "string" } } } } }, { type: "boolean" }] },
  tree: { $ref: "#/$defs/node", $defs: { node: { type: "object", properties: { v: { type: "integer" }, kids: { type: "array", items: { $ref: "#/$defs/node" } } } } } },
  json_object: JSON_OBJECT_SCHEMA,
};

describe("json-budget", () => {
  test("integers never get more digits than a JavaScript number holds exactly (clients parse them as safe integers)", () => {
    // Seen: the demo model wrote a 16-digit count, which the openai SDK's zod `int()` refused.
    const node = bound({ type: "integer" }, 4000, "p").node;
    assert.equal(node.kind, "num");
    if (node.kind !== "num") return;
    assert.ok(node.digits <= 15, `${node.digits} digits`);
    assert.ok(Number.isSafeInteger(Number("9".repeat(node.digits))));
    const num = bound({ type: "number" }, 4000, "p").node;
    if (num.kind === "num") assert.ok(num.digits <= 15, `a number's integer part: ${num.digits} digits`);
  });

  test("for every budget, the worst case fits exactly when the smallest answer does", () => {
    for (const [name, schema] of Object.entries(SCHEMAS)) {
      const least = bound(schema, 0, "p").cost;
      for (let budget = 0; budget <= 600; budget += budget < 100 ? 1 : 37) {
        const b = bound(schema, budget, "p");
        assert.equal(b.fits, budget >= least, `${name} @${budget}`);
        if (b.fits) assert.ok(b.cost <= budget, `${name} @${budget}: worst case ${b.cost}`);
        else assert.equal(b.cost, least, `${name} @${budget}: too small, so the tightest bounds`);
      }
    }
  });

  test("the shortest answer is what it should be", () => {
    // {"city": "", "days": -0}
    assert.equal(bound(SCHEMAS.call, 0, "p").cost, 24);
    // {} and a lone boolean: the cheaper alternative alone
    assert.equal(bound(JSON_OBJECT_SCHEMA, 0, "p").cost, 2);
    assert.equal(bound(SCHEMAS.pick, 0, "p").cost, 5);
  });

  test("a budget is spent: strings grow, arrays get items, and the schema's own bounds hold", () => {
    const node = bound(SCHEMAS.nested, 400, "p").node;
    assert.equal(node.kind, "obj");
    const props = Object.fromEntries((node as Extract<JsonNode, { kind: "obj" }>).props);
    const title = props.title as Extract<JsonNode, { kind: "str" }>;
    assert.equal(title.min, 2);
    assert.ok(title.bytes > 10, `title gets room: ${JSON.stringify(title)}`);
    const tags = props.tags as Extract<JsonNode, { kind: "arr" }>;
    assert.ok(tags.items && tags.items.min === 1 && tags.items.max > 1);
    // A maxLength that fits even in six-byte characters is kept as it is, in characters.
    assert.deepEqual(bound({ type: "string", maxLength: 5 }, 100, "p").node, { kind: "str", min: 0, units: 5, bytes: 0 });
    assert.deepEqual(bound({ type: "string", maxLength: 50 }, 30, "p").node, { kind: "str", min: 0, units: 0, bytes: 28 });
    // Enum values too long for the budget are left out.
    assert.deepEqual(bound({ enum: ["a", "a much longer value"] }, 5, "p").node, { kind: "lit", values: ['"a"'] });
  });

  test("an unknown $ref and an endless recursion are 400s naming the field", () => {
    for (const schema of [{ $ref: "#/$defs/nope" }, { $ref: "#/$defs/a", $defs: { a: { type: "object", properties: { a: { $ref: "#/$defs/a" } } } } }]) {
      assert.throws(
        () => bound(schema, 100, "tools"),
        (err: unknown) => err instanceof BrokerError && err.status === 400 && err.param === "tools",
      );
    }
  });

  test("share: mins first, then evenly, and what one part cannot use goes to the others", () => {
    assert.deepEqual(share([{ min: 2, want: 5 }, { min: 2, want: 100 }, { min: 4, want: 100 }], 30), [5, 12, 13]);
    assert.deepEqual(share([{ min: 2, want: 2 }], 1), [2]);
  });

  test("bucket: exact up to 64, then eight steps per doubling, never above", () => {
    assert.deepEqual([1, 64, 65, 72, 127, 128, 1000, 4096].map(bucket), [1, 64, 64, 72, 120, 128, 960, 4096]);
    for (let n = 1; n < 5000; n += 7) assert.ok(bucket(n) <= n && bucket(n) >= n * 0.875);
  });

  test("the grammar ends in one newline and shares its string rules", () => {
    const gbnf = toGbnf(bound(SCHEMAS.call, 60, "p").node);
    assert.match(gbnf, /^root ::= \S+ "\\n"$/m);
    assert.ok(!/\{0\}|\{0,0\}/.test(gbnf), gbnf);
    assert.match(gbnf, /^b1 ::= /m);
  });
});
