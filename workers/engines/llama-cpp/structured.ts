// response_format and tools, enforced with grammars so that even a tiny model
// answers valid JSON and well-formed tool calls. node-llama-cpp's own function
// calling never fired on a random model and has no "required" mode (DESIGN.md),
// so a forced call is a JSON-schema grammar over {name, arguments}.
import type { ChatModelFunctions, GbnfJsonSchema, Llama, LlamaGrammar } from "node-llama-cpp";
import { z } from "zod";
import { BrokerError } from "../../../broker/errors.js";
import type { ChatRequest } from "../../../broker/proto.js";

export interface Tool {
  name: string;
  description: string;
  parameters: GbnfJsonSchema;
}

/**
 * How one chat request generates:
 * - text: free text;
 * - json: response_format json_object / json_schema, by grammar;
 * - call: tool_choice "required" or a named tool, by grammar over `{"name", "arguments"}`;
 * - functions: tool_choice "auto" (the default with tools): the model's own
 *   function-calling syntax through node-llama-cpp, which may answer text or call.
 * A forced call wins over response_format; with tool_choice auto, a JSON
 * response_format wins and the tools are not offered (a grammar and
 * node-llama-cpp's function calling do not combine).
 */
export type Mode =
  | { kind: "text" }
  | { kind: "json"; grammar: LlamaGrammar }
  | { kind: "call"; grammar: LlamaGrammar; tools: Tool[] }
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

/** Turns a chat request's tools and response_format into a Mode; grammars are built once per schema. */
export class StructuredOutput {
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();

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
      const call = (t: Tool): unknown => ({ type: "object", properties: { name: { const: t.name }, arguments: t.parameters }, required: ["name", "arguments"] });
      const schema = forced.length === 1 ? call(forced[0]!) : { oneOf: forced.map(call) };
      return { kind: "call", grammar: await this.grammar(schema, "tools"), tools: forced };
    }
    if (format && format.type !== "text") {
      const schema = format.type === "json_schema" ? format.json_schema.schema : undefined;
      const grammar = schema ? await this.grammar(normalize(schema), "response_format") : await this.llama.getGrammarFor("json");
      return { kind: "json", grammar };
    }
    if (choice === "auto" && defs.length > 0) {
      // Built here only to reject a schema node-llama-cpp cannot compile before generation starts.
      for (const t of defs) await this.grammar(t.parameters, "tools");
      return { kind: "functions", functions: Object.fromEntries(defs.map((t) => [t.name, { description: t.description, params: t.parameters }])) };
    }
    return { kind: "text" };
  }

  private boundedNumbers(g: LlamaGrammar): Promise<LlamaGrammar> {
    const grammar = boundNumberRules(g.grammar);
    if (grammar === g.grammar) return Promise.resolve(g);
    return this.llama.createGrammar({ grammar, rootRuleName: g.rootRuleName, stopGenerationTriggers: g.stopGenerationTriggers, trimWhitespaceSuffix: g.trimWhitespaceSuffix });
  }

  private grammar(schema: unknown, param: string): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let grammar = this.grammars.get(key);
    if (!grammar) {
      grammar = this.llama.createGrammarForJsonSchema<GbnfJsonSchema>(schema as GbnfJsonSchema).then((g) => this.boundedNumbers(g)).catch((err: unknown) => {
        this.grammars.delete(key);
        throw new BrokerError("invalid_request", `${param}: this JSON schema cannot be enforced: ${err instanceof Error ? err.message : String(err)}`, { param });
      });
      this.grammars.set(key, grammar);
      if (this.grammars.size > GRAMMAR_CACHE) this.grammars.delete(this.grammars.keys().next().value!);
    }
    return grammar;
  }
}

/**
 * node-llama-cpp's number rules allow exponents of up to 16 digits: a random
 * model writes "n": 654197e423249, which JSON.parse reads as Infinity, so an
 * "integer" field fails its schema. Integers lose the exponent here and other
 * numbers keep at most two exponent digits.
 */
function boundNumberRules(gbnf: string): string {
  return gbnf
    .split("\n")
    .map((line) => {
      if (!line.includes("::=") || !line.includes("[eE]")) return line;
      const exponent = / \(\[eE\] \[-\+\]\? \("0" \| \[1-9\] \[0-9\]\{0,15\}\)\)\?/;
      return line.startsWith("integer-number-rule") ? line.replace(exponent, "") : line.replace(exponent, ' ([eE] [-+]? [0-9]{1,2})?');
    })
    .join("\n");
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
