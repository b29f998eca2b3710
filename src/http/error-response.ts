// Builds the local replies jwtgate sends itself (JWT denials, routing and proxy errors) from the
// error catalogue: exact Envoy bodies, `content-type: text/plain`, and for JWT failures the
// `WWW-Authenticate: Bearer realm="<scheme>://<host><path>"[, error="invalid_token"]` header of
// Envoy's jwt_authn filter (realm path includes the query, truncated to 256 bytes as in
// Http::Utility::buildOriginalUri).

import { ERRORS, type ErrorCode } from '../errors.js';
import type { ClientExchange, GatewayRequest } from './exchange.js';
import { applyHeaderOps, type HeaderOp } from '../proxy/header-mutation.js';

const MAX_REALM_PATH_BYTES = 256;
const TEXT_PLAIN: readonly string[] = Object.freeze(['content-type', 'text/plain']);
const NO_HEADERS: readonly string[] = Object.freeze([]);

export function realmFor(req: GatewayRequest): string {
  let path = req.query ? `${req.path}?${req.query}` : req.path;
  // A UTF-16 length of at most 256/3 cannot exceed 256 UTF-8 bytes: skip the count then.
  if (path.length > MAX_REALM_PATH_BYTES / 3 && Buffer.byteLength(path) > MAX_REALM_PATH_BYTES) path = Buffer.from(path).subarray(0, MAX_REALM_PATH_BYTES).toString();
  return `${req.scheme}://${req.authority}${path}`;
}

export function wwwAuthenticateFor(code: ErrorCode, req: GatewayRequest): string | undefined {
  const info = ERRORS[code];
  if (info.wwwAuthenticate === 'none') return undefined;
  // Envoy's basic_auth filter: `Basic realm="<the same URI>"` on every one of its 401s.
  if (info.wwwAuthenticate === 'basic') return `Basic realm="${realmFor(req)}"`;
  const base = `Bearer realm="${realmFor(req)}"`;
  return info.wwwAuthenticate === 'missing' ? base : `${base}, error="invalid_token"`;
}

/** Sends the catalogue reply for `code`. `req` may be undefined before the request is parsed. */
/** `body`: another wording of the code's catalogue body (an upstream failure's reset reason). */
export function sendError(exchange: ClientExchange, code: ErrorCode, req?: GatewayRequest, body?: string, responseOps?: readonly HeaderOp[]): void {
  const info = ERRORS[code];
  const www = req && wwwAuthenticateFor(code, req);
  const text = body ?? info.body;
  // Envoy's local reply with an empty body has no content-type.
  const headers = www !== undefined ? ['content-type', 'text/plain', 'www-authenticate', www] : text === '' ? NO_HEADERS : TEXT_PLAIN;
  if (responseOps === undefined || responseOps.length === 0 || req === undefined) return exchange.respond(info.status, headers, text);
  // The matched route's response header rules, which Envoy applies to local replies too.
  const edited = headers.slice();
  applyHeaderOps(edited, responseOps, true, req, exchange.startedAt, info.status);
  exchange.respond(info.status, edited, text);
}
