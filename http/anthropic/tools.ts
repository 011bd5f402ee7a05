// Anthropic's `tools` and `tool_choice` as the job carries them: OpenAI's
// function tools and tool_choice JSON (what every engine reads), and
// disable_parallel_tool_use as OpenAI's parallel_tool_calls: false among the
// job's extra fields. Server tools (web search, bash, code execution…) run on
// Anthropic's side; no engine here can run them, so they are refused by name.
// https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use
import { z } from "zod";
import { invalid } from "../../core/mod.js";

const toolName = "a name of letters, digits, '_' or '-', at most 64 characters";

export const toolSchema = z.object({
  // "custom" is what the SDKs may send for a client tool; any other type is a server tool, refused before this runs.
  type: z.literal("custom").optional(),
  name: z.string({ error: toolName }).regex(/^[a-zA-Z0-9_-]{1,64}$/, { error: toolName }),
  description: z.string({ error: "a string" }).optional(),
  input_schema: z.record(z.string(), z.unknown(), { error: "a JSON schema object" }),
  strict: z.boolean({ error: "a boolean" }).optional(),
  cache_control: z.unknown().optional(),
}, { error: "a tool object" });

const parallel = { disable_parallel_tool_use: z.boolean({ error: "a boolean" }).optional() };
export const toolChoiceSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auto"), ...parallel }),
  z.object({ type: z.literal("any"), ...parallel }),
  z.object({ type: z.literal("tool"), name: z.string({ error: "a string" }), ...parallel }),
  z.object({ type: z.literal("none") }),
], { error: "an object whose 'type' is 'auto', 'any', 'tool' or 'none'" });

type Tool = z.infer<typeof toolSchema>;
type ToolChoice = z.infer<typeof toolChoiceSchema>;

/**
 * Refuses server tools by their type before the schema runs, so the client
 * reads what it asked for rather than a schema complaint.
 * @throws BrokerError 400 naming `tools.i.type`.
 */
export function refuseServerTools(tools: unknown): void {
  if (!Array.isArray(tools)) return;
  tools.forEach((t: unknown, i) => {
    const type = typeof t === "object" && t !== null ? (t as Record<string, unknown>).type : undefined;
    if (type === undefined || type === null || type === "custom") return;
    throw invalid(`tools.${i}.type`, `Server tools ('${String(type)}') are not supported by this gateway: only client tools (name, description, input_schema) are.`);
  });
}

/** What the job carries for a request's tools. */
export interface JobTools {
  toolsJson: string;
  toolChoiceJson: string;
  /** false when the client disabled parallel tool use (the job's extra field parallel_tool_calls). */
  parallelToolCalls?: false;
}

/**
 * The job's tools fields. Without tools, `auto` and `none` mean what no
 * tools means; `any` and `tool` cannot be honoured, so they are refused.
 * @throws BrokerError 400 naming `tool_choice`.
 */
export function jobTools(tools: Tool[] | null | undefined, choice: ToolChoice | null | undefined): JobTools {
  const out: JobTools = { toolsJson: "", toolChoiceJson: "" };
  if (choice && choice.type !== "none" && choice.disable_parallel_tool_use) out.parallelToolCalls = false;
  if (!tools?.length) {
    if (choice?.type === "any" || choice?.type === "tool") throw invalid("tool_choice", `tool_choice '${choice.type}' needs tools.`);
    return out;
  }
  out.toolsJson = JSON.stringify(tools.map(functionTool));
  if (!choice) return out;
  if (choice.type === "tool" && !tools.some((t) => t.name === choice.name)) {
    throw invalid("tool_choice.name", `tool_choice names the tool '${choice.name}', which is not in tools.`);
  }
  out.toolChoiceJson = JSON.stringify(openaiChoice(choice));
  return out;
}

function functionTool(t: Tool): unknown {
  return {
    type: "function",
    function: {
      name: t.name,
      ...(t.description !== undefined ? { description: t.description } : {}),
      parameters: t.input_schema,
      ...(t.strict !== undefined ? { strict: t.strict } : {}),
    },
  };
}

function openaiChoice(c: ToolChoice): unknown {
  switch (c.type) {
    case "auto":
      return "auto";
    case "any":
      return "required";
    case "none":
      return "none";
    case "tool":
      return { type: "function", function: { name: c.name } };
  }
}
