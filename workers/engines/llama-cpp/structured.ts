// response_format and tools, enforced with grammars so that even a tiny model
// answers valid JSON and well-formed tool calls. node-llama-cpp's own function
// calling never fired on a random model and has no "required" mode (DESIGN.md),
// so a forced call is a grammar too: the arguments alone when one tool is
// forced, `{"name", "arguments"}` when the model picks among several.
// Each grammar is bounded to fit max_tokens (json-budget.ts).
import { LlamaText, type ChatModelFunctions, type GbnfJsonSchema, type Llama, type LlamaGrammar } from "node-llama-cpp";
import { z } from "zod";
import { BrokerError, type ChatRequest } from "../../../contract/mod.js";
import { toGbnf } from "./gbnf.js";
import { bound, JSON_OBJECT_SCHEMA } from "./json-budget.js";

export interface Tool {
  name: string;
  description: string;
  parameters: GbnfJsonSchema;
}

/**
 * How one chat request generates:
 * - text: free text;
 * - json: response_format json_object / json_schema, by grammar;
 * - call: tool_choice "required" or a named tool, by grammar: the tool's
 *   arguments when one tool is forced, else `{"name", "arguments"}`;
 * - functions: tool_choice "auto" (the default with tools): the model's own
 *   function-calling syntax through node-llama-cpp, which may answer text or call.
 * A forced call wins over response_format; with tool_choice auto, a JSON
 * response_format wins and the tools are not offered (a grammar and
 * node-llama-cpp's function calling do not combine).
 * `key` identifies the schema in the grammar cache.
 */
export type Mode =
  | { kind: "text" }
  | { kind: "json"; schema: unknown; key: string }
  | { kind: "call"; schema: unknown; key: string; tools: Tool[] }
  | { kind: "functions"; functions: ChatModelFunctions };

const jsonObject = z.record(z.string(), z.unknown());
const toolsSchema = z.array(
  z.looseObject({
    type: z.literal("function"),
    function: z.looseObject({ name: z.string().min(1), description: z.string().optional(), parameters: jsonObject.optional() }),
  }),
);
const toolChoiceSchema = z.union([
  z.enum(["none", "auto", "required"]),
  z.looseObject({ type: z.literal("function"), function: z.looseObject({ name: z.string().min(1) }) }),
]);
const responseFormatSchema = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("text") }),
  z.looseObject({ type: z.literal("json_object") }),
  z.looseObject({ type: z.literal("json_schema"), json_schema: z.looseObject({ schema: jsonObject.optional() }) }),
]);
const NO_PARAMS = { type: "object", properties: {} } as const;
const GRAMMAR_CACHE = 64;
// The fewest bytes one generated token can add. llama.cpp's grammar sampler
// rejects tokens with empty text, and every vocab llama.cpp loads has
// single-byte tokens (byte-level BPE has all 256; SentencePiece needs its
// <0xXX> byte tokens, DESIGN.md), so a model may spend a token per byte: one
// is the only figure that holds whatever the model writes.
const MIN_TOKEN_BYTES = 1;
// The newline that ends a grammar answer is the stop trigger: one token.
const END_TOKENS = 1;

/** Turns a chat request's tools and response_format into a Mode, and a Mode into a bounded grammar. */
export class StructuredOutput {
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  private readonly checked = new Map<string, Promise<LlamaGrammar>>();

  constructor(private readonly llama: Llama) {}

  async modeFor(chat: ChatRequest): Promise<Mode> {
    const tools = parseField(chat.toolsJson, toolsSchema, "tools") ?? [];
    const choice = parseField(chat.toolChoiceJson, toolChoiceSchema, "tool_choice") ?? (tools.length > 0 ? "auto" : "none");
    const format = parseField(chat.responseFormatJson, responseFormatSchema, "response_format");
    const defs: Tool[] = tools.map((t) => ({
      name: t.function.name,
      description: t.function.description ?? "",
      parameters: normalize(t.function.parameters ?? NO_PARAMS) as GbnfJsonSchema,
    }));

    if (choice !== "none" && choice !== "auto") {
      const forced = choice === "required" ? defs : defs.filter((t) => t.name === choice.function.name);
      if (forced.length === 0) {
        const why = choice === "required" ? "tool_choice is required but no tools were given" : `tool_choice names ${choice.function.name}, which is not in tools`;
        throw new BrokerError("invalid_request", why, { param: "tool_choice" });
      }
      const call = (t: Tool): unknown => ({ type: "object", properties: { name: { const: t.name }, arguments: t.parameters } });
      // One tool: its name is known, so the model writes only the arguments and no budget goes to the name.
      const schema = forced.length === 1 ? forced[0]!.parameters : { oneOf: forced.map(call) };
      return { kind: "call", schema, key: `tools:${JSON.stringify(schema)}`, tools: forced };
    }
    if (format && format.type !== "text") {
      const schema = format.type === "json_schema" && format.json_schema.schema ? normalize(format.json_schema.schema) : JSON_OBJECT_SCHEMA;
      return { kind: "json", schema, key: `response_format:${JSON.stringify(schema)}` };
    }
    if (choice === "auto" && defs.length > 0) {
      // Compiled here only to reject a schema node-llama-cpp cannot compile before generation starts.
      for (const t of defs) await this.check(t.parameters);
      return { kind: "functions", functions: Object.fromEntries(defs.map((t) => [t.name, { description: t.description, params: t.parameters }])) };
    }
    return { kind: "text" };
  }

  /**
   * The grammar for a json or call mode whose answer may use `maxTokens`
   * tokens: bounded so that its longest answer, newline included, is at most
   * that many tokens. When even the shortest answer cannot fit, the tightest
   * grammar: generation then stops at max_tokens, finish_reason "length".
   * Cached per schema and budget bucket.
   */
  grammarFor(mode: Extract<Mode, { kind: "json" | "call" }>, maxTokens: number): Promise<LlamaGrammar> {
    const tokens = bucket(maxTokens);
    const key = `${tokens}:${mode.key}`;
    let grammar = this.grammars.get(key);
    if (!grammar) {
      const param = mode.kind === "call" ? "tools" : "response_format";
      grammar = this.compile(mode.schema, (tokens - END_TOKENS) * MIN_TOKEN_BYTES, param).catch((err: unknown) => {
        this.grammars.delete(key);
        throw err;
      });
      this.grammars.set(key, grammar);
      if (this.grammars.size > GRAMMAR_CACHE) this.grammars.delete(this.grammars.keys().next().value!);
    }
    return grammar;
  }

  private compile(schema: unknown, budget: number, param: string): Promise<LlamaGrammar> {
    const { node } = bound(schema, budget, param);
    // The answer holds no newline (gbnf.ts), so the first one ends it.
    return this.llama.createGrammar({ grammar: toGbnf(node), stopGenerationTriggers: [LlamaText("\n")], trimWhitespaceSuffix: true });
  }

  private check(schema: GbnfJsonSchema): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let grammar = this.checked.get(key);
    if (!grammar) {
      grammar = this.llama.createGrammarForJsonSchema<GbnfJsonSchema>(schema).catch((err: unknown) => {
        this.checked.delete(key);
        throw new BrokerError("invalid_request", `tools: this JSON schema cannot be enforced: ${err instanceof Error ? err.message : String(err)}`, { param: "tools" });
      });
      this.checked.set(key, grammar);
      if (this.checked.size > GRAMMAR_CACHE) this.checked.delete(this.checked.keys().next().value!);
    }
    return grammar;
  }
}

/**
 * max_tokens rounded down to one of eight steps per doubling above 64, so
 * requests share compiled grammars; at most 1/8 of the budget goes unused.
 */
export function bucket(maxTokens: number): number {
  if (maxTokens <= 64) return maxTokens;
  const step = 2 ** (Math.floor(Math.log2(maxTokens)) - 3);
  return Math.floor(maxTokens / step) * step;
}

function parseField<T>(json: string | null | undefined, schema: z.ZodType<T>, param: string): T | undefined {
  if (!json) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new BrokerError("invalid_request", `${param} is not valid JSON`, { param });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new BrokerError("invalid_request", `${param}: ${parsed.error.issues[0]?.message ?? "invalid"}`, { param });
  return parsed.data;
}

/** node-llama-cpp knows `oneOf` but not `anyOf`, which OpenAI schemas (and zod's output) use for unions. */
function normalize(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(normalize);
  if (schema === null || typeof schema !== "object") return schema;
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k === "anyOf" ? "oneOf" : k, normalize(v)]));
}
