// The canonical chat request (the job's protobuf ChatRequest) checked once
// for every front: roles and what each role needs, content parts, tool calls,
// sampling bounds, and the JSON the client's tools, tool_choice and
// response_format travel in. Fronts translate their wire format into this
// shape first and say how a path reads for their clients.
import { z } from "zod";
import type { ChatRequest } from "../../contract/mod.js";
import { IMAGE_DETAILS, jsonObject, jsonText, modelName, nonEmpty, responseFormatSchema, role, samplingShape, toolChoiceSchema, toolSchema } from "./fields.js";
import { check, type IssueParams, type RenderParam } from "./issues.js";
import { checkChatLimits, type InputLimits } from "./limits.js";
import { valid, type Valid } from "./valid.js";

const need: IssueParams = { missing: true };
const detail = `one of ${IMAGE_DETAILS.map((d) => `'${d}'`).join(", ")}`;

const part = z
  .looseObject({
    type: z.string({ error: nonEmpty }),
    text: z.string().nullish(),
    imageUrl: z.string().nullish(),
    // "" is the job's "not given" (the model's default).
    imageDetail: z.string().refine((d) => d === "" || (IMAGE_DETAILS as readonly string[]).includes(d), { error: detail }).nullish(),
    rawJson: jsonText(jsonObject, "a JSON object").nullish(),
  })
  .superRefine((p, ctx) => {
    if (p.type === "image_url" && !p.imageUrl) ctx.addIssue({ code: "custom", path: ["imageUrl"], params: need, message: "missing" });
  });

const toolCall = z.looseObject({
  id: z.string({ error: nonEmpty }).min(1, { error: nonEmpty }),
  type: z.literal("function").nullish(),
  name: z.string({ error: nonEmpty }).min(1, { error: nonEmpty }),
  arguments: z.string().nullish(),
});

const message = z
  .looseObject({
    role,
    content: z.string().nullish(),
    parts: z.array(part).nullish(),
    name: z.string().nullish(),
    toolCalls: z.array(toolCall).nullish(),
    toolCallId: z.string().nullish(),
  })
  .superRefine((m, ctx) => {
    const absent = (path: string): void => void ctx.addIssue({ code: "custom", path: [path], params: need, message: "missing" });
    // Only an assistant turn may leave content out (it called tools instead).
    if (m.content == null && m.parts == null && m.role !== "assistant") absent("content");
    if (m.name == null && m.role === "function") absent("name");
    if (m.toolCallId == null && m.role === "tool") absent("toolCallId");
  });

const request = z.looseObject({
  messages: z.array(message, { error: "a non-empty array of messages" }).min(1, { error: "a non-empty array of messages" }),
  ...samplingShape,
  toolsJson: jsonText(z.array(toolSchema), "a JSON array of function tools").nullish(),
  toolChoiceJson: jsonText(toolChoiceSchema, `'none', 'auto', 'required' or {"type": "function", "function": {"name": ...}} as JSON`).nullish(),
  responseFormatJson: jsonText(responseFormatSchema, "a JSON object whose 'type' is 'text', 'json_object' or 'json_schema' (with 'json_schema')").nullish(),
});

const call = z.object({ model: modelName, chat: request });

/** A chat call: the model a client named and the job's request. */
export interface ChatCall {
  model: string;
  chat: ChatRequest;
}

/**
 * Checks a chat call in canonical form against the gateway's input limits,
 * then the schema; absent fields are undefined.
 * @throws BrokerError 400 `invalid_request`, `param` rendered by the front.
 */
export function validateChat(c: { model?: string | null | undefined; chat?: ChatRequest | null | undefined }, render: RenderParam, limits: InputLimits): Valid<ChatCall> {
  checkChatLimits(c.chat, limits, render);
  check(call, c, render);
  // The schema required both; the fallbacks only satisfy the type checker.
  return valid({ model: c.model ?? "", chat: c.chat ?? {} });
}
