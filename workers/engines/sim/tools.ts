// Tool calls for the sim engine: when the request forces one (tool_choice
// "required" or a named function), each choice calls that tool with
// deterministic arguments built from its JSON schema, so clients' tool loops
// can be tested without a model. "auto" and "none" answer text, as before.
import { z } from "zod";
import type { ChatRequest } from "../../../contract/mod.js";
import type { DeltaSink } from "../../engine.js";
import { WORDS } from "./words.js";

const tools = z.array(z.looseObject({ function: z.looseObject({ name: z.string(), parameters: z.unknown().optional() }) }));
const namedChoice = z.looseObject({ function: z.looseObject({ name: z.string() }) });
const schemaObject = z.looseObject({
  type: z.unknown().optional(),
  properties: z.record(z.string(), z.unknown()).optional(),
  enum: z.array(z.unknown()).optional(),
  items: z.unknown().optional(),
});

/** The tool to call. */
export interface ForcedTool {
  name: string;
  parameters: unknown;
}

/** The tool a request forces, or undefined when the model may answer text. The core validated both JSON fields. */
export function forcedTool(chat: ChatRequest): ForcedTool | undefined {
  if (!chat.toolsJson || !chat.toolChoiceJson) return undefined;
  const list = tools.safeParse(JSON.parse(chat.toolsJson));
  if (!list.success || list.data.length === 0) return undefined;
  const choice: unknown = JSON.parse(chat.toolChoiceJson);
  const named = namedChoice.safeParse(choice);
  const tool = choice === "required" ? list.data[0] : named.success ? list.data.find((t) => t.function.name === named.data.function.name) : undefined;
  return tool && { name: tool.function.name, parameters: tool.function.parameters };
}

/**
 * A value matching `schema` as far as the sim can tell (type, properties,
 * enum, items): every property filled, words from the seed's sequence.
 */
export function sampleValue(schema: unknown, random: () => number, depth = 0): unknown {
  const s = schemaObject.safeParse(schema);
  const type = s.success ? s.data.type : undefined;
  if (s.success && s.data.enum?.length) return s.data.enum[Math.floor(random() * s.data.enum.length)];
  // Nested schemas deeper than this get null: the sim answers quickly, not exhaustively.
  if (depth > 4) return null;
  switch (Array.isArray(type) ? type[0] : type) {
    case "string":
      return WORDS[Math.floor(random() * WORDS.length)] ?? "";
    case "integer":
      return Math.floor(random() * 100);
    case "number":
      return Math.round(random() * 10000) / 100;
    case "boolean":
      return random() < 0.5;
    case "array":
      return [sampleValue(s.data?.items, random, depth + 1)];
    case "null":
      return null;
    default: {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(s.data?.properties ?? {})) out[k] = sampleValue(v, random, depth + 1);
      return out;
    }
  }
}

/**
 * Streams one choice's call: the id, type and name first, then the
 * arguments in a few fragments (as engines stream them), then the finish.
 * Returns the fragments sent, the choice's completion tokens.
 */
export function emitCall(sink: DeltaSink, index: number, id: string, tool: ForcedTool, random: () => number, withRole: boolean): number {
  const args = JSON.stringify(sampleValue(tool.parameters, random));
  sink.delta({ index, ...(withRole ? { role: "assistant" } : {}), toolCalls: [{ index: 0, id, type: "function", name: tool.name, arguments: "" }] });
  const pieces = args.match(/.{1,8}/gs) ?? [];
  for (const piece of pieces) sink.delta({ index, toolCalls: [{ index: 0, arguments: piece }] });
  sink.delta({ index, finishReason: "tool_calls" });
  return pieces.length;
}
