import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { BrokerError } from "../../contract/mod.js";
import { discardUpload, isTooLarge, tooLarge } from "./body-limit.js";

/**
 * The one mapping from any error to OpenAI's error JSON. Anything that is not
 * a BrokerError or a client mistake Fastify already recognised becomes a
 * logged 500 with a generic message: internals never reach the client.
 */
export function toBrokerError(err: unknown, req: FastifyRequest): BrokerError {
  if (err instanceof BrokerError) return err;
  const fe = err as Partial<FastifyError> & { statusCode?: number };
  const status = fe.statusCode ?? 500;
  if (isTooLarge(err) || status === 413) return tooLarge(req.routeOptions.bodyLimit);
  if (fe.code === "FST_ERR_CTP_EMPTY_JSON_BODY") {
    return new BrokerError("invalid_json", "The request body is empty; send a JSON object.");
  }
  if (err instanceof SyntaxError || fe.code === "FST_ERR_CTP_INVALID_JSON_BODY") {
    return new BrokerError("invalid_json", "We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON.");
  }
  if (status >= 400 && status < 500) {
    return new BrokerError("invalid_request", fe.message ?? "Bad request.");
  }
  req.log.error({ err }, "unhandled error");
  return new BrokerError("internal_error", "The server had an error while processing your request. The request id is in the x-request-id header.");
}

export function sendError(reply: FastifyReply, e: BrokerError): FastifyReply {
  if (e.retryAfterS > 0) reply.header("retry-after", String(e.retryAfterS));
  return reply.code(e.status).type("application/json").send(e.toJSON());
}

/**
 * A Fastify error handler: any error becomes a BrokerError, is counted, and
 * goes out through `send`, the dialect's error shape. An over-large body is
 * answered only once the upload is read (or past the bound), so the client is
 * not reset mid-write.
 */
export function errorHandler(count: (e: BrokerError) => void, send: (reply: FastifyReply, e: BrokerError) => FastifyReply) {
  return (err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    const e = toBrokerError(err, req);
    count(e);
    if (!isTooLarge(err)) return send(reply, e);
    void discardUpload(req.raw, req.routeOptions.bodyLimit).then(() => send(reply.header("connection", "close"), e));
    return undefined;
  };
}
