// The gRPC front's public entry: the server the gateway starts and the typed client.
export { startGrpcFront, type GrpcFront } from "./server.js";
export { createInferenceClient, type InferenceClient } from "./client.js";
