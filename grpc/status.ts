// The one mapping between BrokerError (HTTP status + OpenAI error) and a gRPC
// status. The OpenAI error travels three ways, so every kind of client finds
// it: in the status message ("rate_limit_error/queue_full: ..."), as plain
// trailing metadata, and as google.rpc.Status details (ErrorInfo, RetryInfo
// and the broker's own inference.v1.Error) that grpcurl and the gRPC
// richer-error APIs decode.
import { Metadata, status as Code, type ServerErrorResponse, type ServiceError } from "@grpc/grpc-js";
import protobuf from "protobufjs/minimal.js";
import { BrokerError, pb } from "../contract/mod.js";

/** Trailing metadata keys that carry the OpenAI error. */
export const ErrorMetadata = {
  type: "x-error-type",
  code: "x-error-code",
  param: "x-error-param",
  httpStatus: "x-http-status",
  /** Seconds, as HTTP's Retry-After; only when the error has one. */
  retryAfter: "retry-after",
  /** google.rpc.Status, as every gRPC implementation names it. */
  details: "grpc-status-details-bin",
} as const;

const TYPE_PREFIX = "type.googleapis.com/";
const ERROR_INFO = `${TYPE_PREFIX}google.rpc.ErrorInfo`;
const RETRY_INFO = `${TYPE_PREFIX}google.rpc.RetryInfo`;
const BROKER_ERROR = `${TYPE_PREFIX}inference.v1.Error`;
const DOMAIN = "inference.v1";

/**
 * The gRPC code for an HTTP status, after gRPC's own HTTP mapping
 * (doc/http-grpc-status-mapping.md) and google.rpc.Code's HTTP column.
 * 413 is INVALID_ARGUMENT: the client must change the request, a retry never helps.
 */
export function grpcCode(httpStatus: number): Code {
  switch (httpStatus) {
    case 400:
    case 413:
    case 422:
      return Code.INVALID_ARGUMENT;
    case 401:
      return Code.UNAUTHENTICATED;
    case 403:
      return Code.PERMISSION_DENIED;
    case 404:
      return Code.NOT_FOUND;
    case 409:
      return Code.ABORTED;
    case 429:
      return Code.RESOURCE_EXHAUSTED;
    case 499:
      return Code.CANCELLED;
    case 501:
      return Code.UNIMPLEMENTED;
    // 502: the worker or its upstream failed (worker_lost, upstream_error): transient, as gRPC maps a bad gateway.
    case 502:
    case 503:
      return Code.UNAVAILABLE;
    case 504:
      return Code.DEADLINE_EXCEEDED;
    default:
      return httpStatus >= 400 && httpStatus < 500 ? Code.INVALID_ARGUMENT : Code.INTERNAL;
  }
}

/** The status message: the OpenAI type and code first, so they show in any client's one-line error. */
export function statusMessage(e: BrokerError): string {
  return `${e.type}/${e.wireCode}: ${e.message}`;
}

/** A BrokerError as the error a grpc-js handler emits or passes to its callback. */
export function toServiceError(e: BrokerError): ServerErrorResponse {
  const code = grpcCode(e.status);
  const details = statusMessage(e);
  const md = new Metadata();
  md.set(ErrorMetadata.type, e.type);
  md.set(ErrorMetadata.code, e.wireCode);
  if (e.param) md.set(ErrorMetadata.param, e.param);
  md.set(ErrorMetadata.httpStatus, String(e.status));
  if (e.retryAfterS > 0) md.set(ErrorMetadata.retryAfter, String(e.retryAfterS));
  md.set(ErrorMetadata.details, encodeStatus(code, details, e));
  return Object.assign(new Error(details), { code, details, metadata: md });
}

/** google.rpc.Status { code, message, details: [ErrorInfo, RetryInfo?, inference.v1.Error] }, encoded by hand: three small messages. */
export function encodeStatus(code: Code, message: string, e: BrokerError): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(8).int32(code);
  w.uint32(18).string(message);
  any(w, ERROR_INFO, errorInfo(e));
  if (e.retryAfterS > 0) {
    // RetryInfo { retry_delay: Duration { seconds } }
    const r = protobuf.Writer.create();
    r.uint32(10).fork().uint32(8).int64(e.retryAfterS).ldelim();
    any(w, RETRY_INFO, r.finish());
  }
  any(w, BROKER_ERROR, pb.Error.encode(e.toChunk()).finish());
  const u8 = w.finish();
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

function any(w: protobuf.Writer, typeUrl: string, value: Uint8Array): void {
  w.uint32(26).fork().uint32(10).string(typeUrl).uint32(18).bytes(value).ldelim();
}

// ErrorInfo { reason: "QUEUE_FULL", domain, metadata: {type, code, param, http_status} }
function errorInfo(e: BrokerError): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(10).string(e.wireCode.toUpperCase());
  w.uint32(18).string(DOMAIN);
  const meta: [string, string][] = [["type", e.type], ["http_status", String(e.status)], ["code", e.wireCode]];
  if (e.param) meta.push(["param", e.param]);
  for (const [k, v] of meta) w.uint32(26).fork().uint32(10).string(k).uint32(18).string(v).ldelim();
  return w.finish();
}

/** The Any messages inside an encoded google.rpc.Status. */
export function statusDetails(bytes: Uint8Array): { typeUrl: string; value: Uint8Array }[] {
  const out: { typeUrl: string; value: Uint8Array }[] = [];
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 !== 3) {
      r.skipType(tag & 7);
      continue;
    }
    const a = protobuf.Reader.create(r.bytes());
    let typeUrl = "";
    let value: Uint8Array = new Uint8Array();
    while (a.pos < a.len) {
      const t = a.uint32();
      if (t === 10) typeUrl = a.string();
      else if (t === 18) value = a.bytes();
      else a.skipType(t & 7);
    }
    out.push({ typeUrl, value });
  }
  return out;
}

/**
 * A client's view of a failed call as a BrokerError: the broker's own error
 * from the status details when present, else one built from the gRPC code
 * (a deadline the client library enforced, a connection that failed).
 */
export function fromServiceError(err: ServiceError): BrokerError {
  const bin = err.metadata?.get(ErrorMetadata.details)[0];
  if (bin instanceof Buffer) {
    try {
      const d = statusDetails(bin).find((x) => x.typeUrl === BROKER_ERROR);
      if (d) return BrokerError.fromChunk(pb.Error.decode(d.value));
    } catch {
      // Not ours: fall through to the code.
    }
  }
  const message = err.details || err.message;
  switch (err.code) {
    case Code.DEADLINE_EXCEEDED:
      return new BrokerError("timeout", message);
    case Code.CANCELLED:
      return new BrokerError("cancelled", message);
    case Code.UNAVAILABLE:
      return new BrokerError("unavailable", message);
    case Code.INVALID_ARGUMENT:
      return new BrokerError("invalid_request", message);
    case Code.UNAUTHENTICATED:
      return new BrokerError("unauthenticated", message);
    case Code.PERMISSION_DENIED:
      return new BrokerError("permission_denied", message);
    case Code.NOT_FOUND:
      return new BrokerError("not_found", message);
    case Code.RESOURCE_EXHAUSTED:
      return new BrokerError("resource_exhausted", message);
    default:
      return new BrokerError("internal_error", message);
  }
}
