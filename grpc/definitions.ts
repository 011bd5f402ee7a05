// The gRPC services, loaded from proto/ at run time with @grpc/proto-loader
// (method paths, streaming flags, and the descriptors reflection serves),
// with every message encoded by the same generated protobufjs code as the
// NATS payloads: one codec, typed, and exactly the bytes proto/ describes.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MethodDefinition } from "@grpc/grpc-js";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import type { inference } from "../proto/gen/inference.js";
import { pb } from "../contract/mod.js";

/** The folder of service.proto: found upwards from this module, so source (tsx) and dist/ both work. */
export const PROTO_DIR = findProtoDir();

function findProtoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "proto/inference/v1");
    if (existsSync(join(candidate, "service.proto"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error("proto/inference/v1/service.proto not found above grpc/");
}

/** Options a plain @grpc/proto-loader client uses too (tests, other services). */
export const LOADER_OPTIONS = { keepCase: false, longs: Number, enums: String, defaults: false, oneofs: true } as const;

/** Every service the front serves, health included: what reflection describes. */
export function loadPackage(): PackageDefinition {
  return loadSync(["service.proto", healthProtoPath], { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
}

/** A generated message class: encodes its plain properties, decodes to an instance. */
interface StaticType<I, D extends I> {
  encode(message: I): { finish(): Uint8Array };
  decode(data: Uint8Array): D;
}

function encoder<I>(t: { encode(message: I): { finish(): Uint8Array } }): (m: I) => Buffer {
  return (m) => {
    const u8 = t.encode(m).finish();
    return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
  };
}

function decoder<D>(t: { decode(data: Uint8Array): D }): (b: Buffer) => D {
  return (b) => t.decode(b);
}

/**
 * One method, twice: the server's side decodes requests to instances and
 * encodes plain response objects; the client's side the other way round.
 */
function method<QI, QD extends QI, RI, RD extends RI>(
  pkg: PackageDefinition,
  service: string,
  name: string,
  req: StaticType<QI, QD>,
  res: StaticType<RI, RD>,
): { server: MethodDefinition<QD, RI>; client: MethodDefinition<QI, RD> } {
  const def = pkg[`inference.v1.${service}`] as Record<string, MethodDefinition<unknown, unknown>> | undefined;
  const loaded = def?.[name];
  if (!loaded) throw new Error(`service.proto has no ${service}.${name}`);
  const m = {
    path: loaded.path,
    requestStream: loaded.requestStream,
    responseStream: loaded.responseStream,
    originalName: name,
    requestSerialize: encoder(req),
    requestDeserialize: decoder(req),
    responseSerialize: encoder(res),
    responseDeserialize: decoder(res),
  };
  return { server: m, client: m };
}

/** Decoded messages (what a receiver gets). */
export type ChatCompletionRequest = inference.v1.ChatCompletionRequest;
export type TextCompletionRequest = inference.v1.TextCompletionRequest;
export type EmbedRequest = inference.v1.EmbedRequest;
export type QueueStatsRequest = inference.v1.QueueStatsRequest;
export type OutputChunk = inference.v1.OutputChunk;
export type EmbedResponse = inference.v1.EmbedResponse;
export type ListWorkersResponse = inference.v1.ListWorkersResponse;
export type QueueStatsResponse = inference.v1.QueueStatsResponse;
/** Plain objects a sender builds. */
export type OutputChunkInit = inference.v1.OutputChunk.$Properties;
export type EmbedResponseInit = inference.v1.EmbedResponse.$Properties;
export type ListModelsResponseInit = inference.v1.ListModelsResponse.$Properties;
export type ListWorkersResponseInit = inference.v1.ListWorkersResponse.$Properties;
export type QueueStatsResponseInit = inference.v1.QueueStatsResponse.$Properties;

/** Method definitions with the generated codecs, for server and client. */
export function serviceDefinitions(pkg: PackageDefinition = loadPackage()) {
  return {
    chat: method(pkg, "Inference", "ChatCompletion", pb.ChatCompletionRequest, pb.OutputChunk),
    completion: method(pkg, "Inference", "Completion", pb.TextCompletionRequest, pb.OutputChunk),
    embed: method(pkg, "Inference", "Embed", pb.EmbedRequest, pb.EmbedResponse),
    listModels: method(pkg, "Inference", "ListModels", pb.ListModelsRequest, pb.ListModelsResponse),
    listWorkers: method(pkg, "Admin", "ListWorkers", pb.ListWorkersRequest, pb.ListWorkersResponse),
    queueStats: method(pkg, "Admin", "QueueStats", pb.QueueStatsRequest, pb.QueueStatsResponse),
  };
}
export type ServiceDefinitions = ReturnType<typeof serviceDefinitions>;
