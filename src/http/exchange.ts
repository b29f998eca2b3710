// The request as the gateway sees it after the uWS handler copied it (uWS request objects are
// only valid during the synchronous callback), and the response/body interface the proxy and
// error responses write to. Pure types: the uWS-specific implementation is in http/server.ts.

import type { ErrorCode } from '../errors.js';
import type { HeaderOp } from '../proxy/header-mutation.js';

export interface GatewayRequest {
  /** Uppercase method as received (`GET`). */
  method: string;
  /** Path without the query, as received (not decoded). Mutable: query-token removal rewrites `query`. */
  path: string;
  /** Raw query string without `?` ('' when none). */
  query: string;
  /**
   * Set when the JWT check removed a query token and the remaining values, written back decoded
   * as Envoy does, held bytes `query` had to percent-encode again to be sent (space, `#`,
   * controls, non-ASCII): Envoy's `:path` query, what rbac expressions see.
   */
  queryAsEnvoy?: string | undefined;
  /** Lowercased Host header (or :authority) without port. */
  host: string;
  /** Host header as received, with port. */
  authority: string;
  /**
   * Flat list of header pairs `[name0, value0, name1, value1, …]`, names lowercase, in arrival
   * order, repeated headers kept. The auth stage edits this in place (sanitize, remove token,
   * add claim headers); the proxy forwards what remains (minus hop-by-hop headers).
   */
  headers: string[];
  remoteAddress: string;
  /**
   * Header names the gateway itself set (claim headers): never removed when a client names
   * them in `Connection`. Client-sent headers of these names were removed before (sanitize).
   */
  gatewayHeaders?: readonly string[];
  /**
   * The header list sent upstream (UTF-8 bytes as latin1), once the route's request rules are
   * applied: Envoy edits the downstream request's own map, so a response rule's `%REQ(x)%` reads
   * the request as it went on (the rules' values, x-request-id, x-forwarded-for, the Host).
   */
  sentHeaders?: readonly string[] | undefined;
  /** The path sent upstream when a URLRewrite filter rewrote it (`path` keeps the one received, for logs). */
  upstreamPath?: string | undefined;
  /**
   * The size of a body read whole before the request went on (TrafficPolicy `buffer`): sent
   * upstream with this `content-length` when the client sent none (chunked), as Envoy's buffer
   * filter adds it.
   */
  heldBodyBytes?: number | undefined;
  /**
   * The cors filter's response headers for this request (a CORS request from an origin the first
   * route matched allows), set when it is routed: Envoy's filter decides once, whatever route a
   * later re-match picks.
   */
  corsOps?: readonly HeaderOp[] | undefined;
  /**
   * The headers an ext auth server that allowed the request asks to add to its answer
   * (`headersToClientOnSuccess`): added to whatever answer it gets, after the route's response
   * rules and before the cors filter's (Envoy's encoder order).
   */
  extAuthOps?: readonly HeaderOp[] | undefined;
  /**
   * Set when a token was accepted by a provider with `claimsToHeaders` (Envoy's
   * `clear_route_cache`, spec §4.8 step 5): the request is then matched to a route again. A
   * request let through without a token (AllowMissing) keeps its route.
   */
  clearRouteCache?: boolean;
  /**
   * Set once applyEdgeHeaders has given `headers` Envoy's pre-routing edge values
   * (x-forwarded-for/-proto, x-request-id): the proxy sends them as they are.
   */
  edgeApplied?: boolean;
  /** 'http' (TLS listeners are not supported yet). */
  scheme: 'http' | 'https';
  /**
   * Set by the front end when the request itself is malformed (a second Host, a Host that is
   * not an authority, two different content-lengths, a transfer coding other than chunked): it
   * is answered with this code and the connection closed, before routing.
   */
  invalid?: ErrorCode | undefined;
}

/**
 * The value of a header Envoy keeps as an inline header (one its filters register, such as
 * `origin` and `referer`): repeated fields joined with `,`, empty ones skipped; '' when none.
 */
export function inlineHeaderValue(headers: readonly string[], name: string): string {
  let v = '';
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== name || headers[i + 1] === '') continue;
    v = v === '' ? headers[i + 1]! : `${v},${headers[i + 1]!}`;
  }
  return v;
}

/**
 * The values of header `name` joined with `,`, undefined when absent: Envoy's codec folds the field
 * lines of an inline header (accept-encoding, cache-control, content-type, vary…) into one value.
 */
export function joinedHeaderValue(headers: readonly string[], name: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) out = out === undefined ? headers[i + 1]! : `${out},${headers[i + 1]!}`;
  return out;
}

/** The first value of header `name` (a name in lowercase), undefined when absent. */
export function firstHeaderValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1]!;
  return undefined;
}

/** Removes, in one pass, every value of every header in `names`; returns how many were removed. */
export function removeHeaders(headers: string[], names: readonly string[]): number {
  if (names.length === 0) return 0;
  let w = 0;
  let removed = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (names.includes(headers[r]!)) { removed++; continue; }
    if (w !== r) { headers[w] = headers[r]!; headers[w + 1] = headers[r + 1]!; }
    w += 2;
  }
  headers.length = w;
  return removed;
}

/** Removes every value of `name`; returns how many were removed. */
export function removeHeader(headers: string[], name: string): number {
  return removeHeaders(headers, [name]);
}

/**
 * The client side of one exchange: request body in, response out. Implemented over uWS in
 * http/server.ts and over plain objects in tests. All methods are safe to call after an abort
 * (they do nothing).
 */
export interface ClientExchange {
  /** performance.now() when the request head was handed over (request duration metric and log). */
  readonly startedAt: number;
  /** performance.now() when the client went away before its answer (its request's duration ends there). */
  readonly abortedAt: number | undefined;
  /** True when the request declares a body (content-length > 0 or transfer-encoding). */
  readonly hasBody: boolean;
  /** Declared content-length, or -1 when chunked/unknown. */
  readonly contentLength: number;
  /** Body chunks, copied (safe to keep). Call once; chunks before the call are buffered. */
  onBody(cb: (chunk: Buffer, isLast: boolean) => void): void;
  /**
   * Reads the whole body before anyone takes it (Envoy's buffer filter), holding it for onBody:
   * `complete(bytes)` once its last chunk has arrived, `tooLarge()` as soon as more than
   * `limitBytes` have (what was read is dropped, the rest is not read). Either may run before
   * this returns; neither after an abort. Call once, before onBody, on a request with a body.
   */
  bufferBody(limitBytes: number, complete: (bytes: number) => void, tooLarge: () => void): void;
  /**
   * Holds the body (never pausing it) until `limitBytes` of it, or all of it, have arrived, then
   * `ready(first, complete)`: a copy of its first `limitBytes` bytes at most, and whether that is
   * all that is held (the whole body, or all of it that has come). The body stays held for onBody. Call once, before onBody; never after an abort.
   */
  peekBody(limitBytes: number, ready: (first: Buffer, complete: boolean) => void): void;
  /** A copy of the body held so far (after bufferBody's `complete`, all of it); it stays held for onBody. */
  heldBody(): Buffer;
  pauseBody(): void;
  resumeBody(): void;

  /** True once the client went away (or the response was fully sent). */
  readonly done: boolean;
  /** Called once if the client disconnects before the response is complete. */
  onAbort(cb: () => void): void;

  /** A complete response in one go. `headers` is a flat pair list. */
  respond(status: number, headers: readonly string[], body: string | Buffer): void;
  /** Starts a streamed response. */
  writeHead(status: number, headers: readonly string[]): void;
  /** True once the status line of a writeHead() head has been written to the socket (it is deferred to the first body chunk). */
  readonly headWritten: boolean;
  /** Writes a body chunk; false means backpressure: wait for onDrain before writing more. */
  write(chunk: Buffer): boolean;
  onDrain(cb: () => void): void;
  end(): void;
  /** Closes the client connection abruptly (upstream failed mid-response). */
  destroy(): void;
  /**
   * The upstream failed after its head, before any body byte: sends the held head when its
   * framing lets the client see the body is cut (a declared length), then closes; otherwise
   * closes without an answer. Never a local reply: Envoy forwards the head and resets the stream.
   */
  abortAfterHead(): void;
  /**
   * Set before a local answer to close the connection after it instead of reading and dropping
   * the rest of the request body (a body over the size limit: Envoy resets the stream).
   */
  closeAfterResponse: boolean;
}
