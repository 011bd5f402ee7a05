// Loading: the llama.cpp binding (once per process and GPU choice), the model
// file (checked first), one context with N sequences, and the chat wrapper,
// resolved once per model because "auto" per session costs 0.5–1.5 s (DESIGN.md).
import {
  getLlama,
  JinjaTemplateChatWrapper,
  LlamaLogLevel,
  resolveChatWrapper,
  specializedChatWrapperTypeNames,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaModel,
  type SpecializedChatWrapperTypeName,
} from "node-llama-cpp";
import { ConfigError } from "../../../contract/mod.js";
import { checkGguf, GgufFormatError } from "./gguf-check.js";
import { modelFile, optionError, type LlamaCppOptions } from "./options.js";

export interface LoadedModel {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  wrapper: ChatWrapper;
}

// getLlama loads a native binary (about a second); every engine in the process shares one per GPU choice.
const bindings = new Map<string, Promise<Llama>>();
// llama.cpp's loader throws a bare "Failed to load model" and logs the reason;
// the latest reason is kept to put into the error.
let lastLoadError = "";

function log(level: LlamaLogLevel, message: string): void {
  const reason = /error loading model: (.+)/.exec(message);
  if (reason) lastLoadError = reason[1]!.trim();
  if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) console.error(`[llama.cpp] ${message.trimEnd()}`);
}

function binding(gpu: LlamaCppOptions["gpu"]): Promise<Llama> {
  const key = String(gpu);
  let llama = bindings.get(key);
  if (!llama) {
    // build "never": a worker must not start compiling llama.cpp; only the prebuilt binaries are used.
    llama = getLlama({ gpu, build: "never", logLevel: LlamaLogLevel.error, logger: log }).catch((err: unknown) => {
      bindings.delete(key);
      throw optionError("gpu", `no usable prebuilt llama.cpp binary for gpu=${key}: ${message(err)}`);
    });
    bindings.set(key, llama);
  }
  return llama;
}

/** Checks and loads the model file, then creates its context; throws optionError naming the file on failure. */
export async function loadModel(opts: LlamaCppOptions, modelId: string): Promise<LoadedModel> {
  const { path, option } = modelFile(opts, modelId);
  let chatTemplate: string | null;
  try {
    chatTemplate = checkGguf(path).chatTemplate;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw optionError(option, `model file ${path} does not exist`);
    if (err instanceof GgufFormatError) throw optionError(option, `model file ${path} ${err.message}`);
    throw optionError(option, `cannot read model file ${path}: ${message(err)}`);
  }
  if (!chatTemplate && !opts.chatTemplate) {
    throw optionError("chatTemplate", `model file ${path} has no chat template (tokenizer.chat_template); set chatTemplate, e.g. "chatML"`);
  }

  const llama = await binding(opts.gpu);
  let model: LlamaModel;
  lastLoadError = "";
  try {
    model = await llama.loadModel({ modelPath: path, gpuLayers: opts.gpu === false ? 0 : (opts.gpuLayers ?? "auto") });
  } catch (err) {
    // Log lines come from llama.cpp's own thread: let those still queued land first.
    await new Promise((resolve) => setImmediate(resolve));
    throw optionError(option, `llama.cpp could not load ${path}: ${lastLoadError || message(err)}`);
  }
  try {
    const wrapper = chatWrapper(model, opts.chatTemplate);
    const context = await model.createContext({ contextSize: opts.contextSize, sequences: opts.sequences, threads: opts.threads });
    return { llama, model, context, wrapper };
  } catch (err) {
    await model.dispose();
    throw err instanceof ConfigError ? err : optionError("contextSize", `cannot create a context for ${path}: ${message(err)}`);
  }
}

function chatWrapper(model: LlamaModel, template: string | undefined): ChatWrapper {
  if (!template) return resolveChatWrapper(model);
  if ((specializedChatWrapperTypeNames as readonly string[]).includes(template)) {
    return resolveChatWrapper(model, { type: template as SpecializedChatWrapperTypeName });
  }
  try {
    return new JinjaTemplateChatWrapper({ template, tokenizer: model.tokenizer });
  } catch (err) {
    throw optionError("chatTemplate", `not a usable Jinja template or chat wrapper name: ${message(err)}`);
  }
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));
