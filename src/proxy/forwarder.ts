// Sends a routed request to one endpoint of its backend and streams the response back to the
// client: one keep-alive undici Pool per endpoint (host:port), created on first use and kept,
// round robin over a backend's endpoints, undici's low-level dispatch() with a handler on undici's own
// callbacks, backpressure in both directions, and Envoy-like local replies (503/504/502, text/plain)
// when the upstream fails before the response head, a route's retries (retry.ts decides,
// RetryRun runs the attempts) and its mirrors (copies to other backends, answers discarded). It
// does not route, authenticate, or rewrite paths and hosts; header rules live in header-rules.ts.

import type { EventEmitter } from 'node:events';
import { Client, Pool, errors, type Dispatcher } from 'undici';
import { ERRORS, UPSTREAM_RESET, type ErrorCode } from '../errors.js';
import type { ClientExchange, GatewayRequest } from '../http/exchange.js';
import { firstHeaderValue, joinedHeaderValue, removeHeaders } from '../http/exchange.js';
import { sendError } from '../http/error-response.js';
import type { BackendTarget, RouteTimeouts } from '../config/snapshot.js';
import { applyHeaderOps, type HeaderOp, type RouteHeaderMutation } from './header-mutation.js';
import { clientResponseHeaders, setOriginalPath, upstreamRequestHeaders, upstreamTarget } from './header-rules.js';
import { compressResponseHead, createEncoder, flushKind, type Codec, type RouteCompression } from './compression.js';
import type zlib from 'node:zlib';
import { MirrorBody, RequestBody, type RequestBodyOwner } from './request-body.js';
import { classifyUpstreamError, nameDoesNotResolve, NO_HEALTHY_UPSTREAM, upstreamErrorReason, upstreamUnavailableBody } from './upstream-errors.js';
import dns from 'node:dns';
import { hostKind } from '../util/host.js';
import { mirrorDraw, mirrors as mirrored, shadowHost, type MirrorResult, type RouteMirror } from './mirror.js';
import { backoff, MAX_CONCURRENT_RETRIES, RETRY_BUFFER_BYTES, retriableAnswer, retriableFailure, type AttemptFailure, type RetryEvent, type RouteRetry } from './retry.js';

export interface ForwarderOptions {
  /** Max connections per endpoint (host:port); more concurrent requests wait in the pool queue. Default 128. */
  connections?: number;
  /**
   * Max requests per endpoint waiting for a free connection. One more is answered 503
   * UPSTREAM_OVERFLOW at once, without reaching the upstream, as Envoy's circuit breaker
   * `max_pending_requests` (whose default this is). A request counts from the moment it is
   * forwarded until its exchange ends, or, if its client left while it waited, until undici
   * drops it from its queue (when a connection frees). Default 1024; 0 = none may wait.
   */
  maxPending?: number;
  /** HTTP/1.1 requests in flight per connection. Default 1 (no pipelining). */
  pipelining?: number;
  /** How often a host name that does not resolve is looked up again, in ms (Envoy's STRICT_DNS `dns_refresh_rate`). Default 5000. */
  dnsRefreshMs?: number;
  /**
   * Route timeout in ms (Envoy's default route timeout is 15 s): no response head within it
   * -> 504 UPSTREAM_TIMEOUT. Also the max idle gap between response body chunks and, as Envoy's,
   * a deadline for the whole response counted from the whole request's dispatch (`streamingHead`);
   * after the head has been sent either can only close the client connection. Time spent waiting
   * for a free pooled connection counts (as Envoy's), checked on the same 0.5 s tick: a request
   * (or an attempt of a retried one) still waiting when the tick comes gets its 504 `timeoutMs`
   * after its dispatch, whenever its connection came. 0 disables. Default 15000.
   */
  timeoutMs?: number;
  /** TCP connect timeout in ms; expiry -> 503 UPSTREAM_UNAVAILABLE (as Envoy's connect_timeout). Default 5000. */
  connectTimeoutMs?: number;
  /**
   * How long an idle upstream connection is kept, in ms, when the upstream sends no
   * `Keep-Alive: timeout=` hint; with one, undici keeps it for the hint minus 2 s (at most
   * 600 s), so it closes first. Default 4000 (under Node's http server's 5 s).
   */
  keepAliveTimeoutMs?: number;
  /**
   * Request body limit in bytes; 0 = unlimited (default). A larger declared content-length is
   * answered 413 REQUEST_BODY_TOO_LARGE without contacting the upstream; a chunked body that
   * grows past it is cut (upstream request aborted) and answered 413.
   */
  maxRequestBodyBytes?: number;
  /** Max response head size in bytes; larger -> 502. Default 61440 (Envoy's max_response_headers_kb, 60). */
  maxResponseHeaderBytes?: number;
  /** Called for every retry decision of a route with retries (jwtgate_upstream_retries_total). */
  onRetry?: (event: RetryEvent) => void;
  /** Called when a mirrored copy of a request ends (jwtgate_upstream_mirrors_total). */
  onMirror?: (result: MirrorResult) => void;
}

/** What a route sets for its upstream requests (a CompiledRoute is one). */
export interface UpstreamPolicy {
  readonly timeouts?: RouteTimeouts;
  readonly retry?: RouteRetry;
  readonly mirrors?: readonly RouteMirror[];
  /** TrafficPolicy `autoHostRewrite` (Envoy's auto_host_rewrite): each attempt's Host is its endpoint's host name. */
  readonly autoHostRewrite?: boolean;
  /** TrafficPolicy `compression.responseCompression`: Envoy's compressor filters on the route. */
  readonly compression?: RouteCompression;
  /** TrafficPolicy `compression.requestDecompression`: the codecs Envoy's decompressor filters inflate request bodies of. */
  readonly decompression?: readonly Codec[];
}

/**
 * What happened to one forwarded request, for access logs and metrics. Passed to the `onDone`
 * callback exactly once; read it there (the object is the exchange itself, not a copy).
 */
export interface ProxyOutcome {
  /** Status sent to the client: the upstream's or the local reply's; 0 when nothing was sent. */
  readonly status: number;
  /**
   * Catalogue code when the exchange failed: before the response head it is also the reply that
   * was sent; after it the client connection was closed. Undefined on success and on client aborts.
   */
  readonly code: ErrorCode | undefined;
  /** The client went away before the response was complete (Envoy's `DC` response flag). */
  readonly clientAborted: boolean;
  /** The upstream's response head was sent to the client. */
  readonly responseStarted: boolean;
  /** `host:port` the request was sent to (the last attempt's); '' when none was picked. */
  readonly endpoint: string;
  /** Attempts sent upstream, or waited for: 1, plus the route's retries that were made. */
  readonly attempts: number;
  /** Transport reason of a failure (`ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`, `HPE_INVALID_CONSTANT`); '' otherwise. */
  readonly upstreamError: string;
  /** Request body bytes received from the client. */
  readonly requestBodyBytes: number;
  /** Response body bytes received from the upstream. */
  readonly responseBodyBytes: number;
  /** performance.now() when the client's request head arrived (its ClientExchange's startedAt). */
  readonly startedAt: number;
}

export interface EndpointStats {
  /** Open connections. */
  readonly connected: number;
  /** Open connections with no request in flight. */
  readonly free: number;
  /** Requests waiting for a connection. */
  readonly queued: number;
  /** Requests on a connection, not yet completed. */
  readonly running: number;
}

export interface ForwarderStats {
  /** forward() calls. */
  readonly requests: number;
  readonly inFlight: number;
  /** Upstream responses forwarded completely. */
  readonly completed: number;
  readonly clientAborts: number;
  /** Failures by catalogue code. */
  readonly errors: Readonly<Partial<Record<ErrorCode, number>>>;
  /** By `host:port`. */
  readonly endpoints: Readonly<Record<string, EndpointStats>>;
}

interface Counters {
  requests: number;
  inFlight: number;
  completed: number;
  clientAborts: number;
  errors: Partial<Record<ErrorCode, number>>;
}

interface Endpoint {
  readonly key: string;
  readonly host: string;
  /**
   * Replaced when undici refused a request inside dispatch() (see Forwarder.forward). Null for a
   * host that is neither an IP address nor a DNS name (`a b`, `x/y`, util/host.ts): it never has
   * an address, as a DNS name Envoy cannot resolve, and is left out of the rotation.
   */
  pool: Pool | null;
  /** Requests forwarded to this endpoint whose exchange has not ended: on a connection or waiting for one. */
  active: number;
  /**
   * The host's name does not resolve (its lookup said so): left out of the rotation while another
   * endpoint may serve, as Envoy's STRICT_DNS cluster has no endpoint for it, and looked up again
   * every `dnsRefreshMs` until it resolves.
   */
  unresolved: boolean;
  /** A lookup is pending or scheduled. */
  probing: boolean;
  /** Closed with its pool: no more lookups. */
  retired: boolean;
  /** A request found its name does not resolve (the forwarder's probe). */
  readonly markUnresolved: () => void;
}

/**
 * Background host-name lookups the forwarder runs at a time (see Forwarder.runLookups): one, as
 * libuv runs at most two getaddrinfo calls at once for the whole process, and a name whose
 * resolver is slow to say it does not exist must not take both from every connect.
 */
const MAX_LOOKUPS = 1;


interface TargetState {
  readonly endpoints: Endpoint[];
  next: number;
  /** Retries in progress on this backend (Envoy's circuit breaker `max_retries`, MAX_CONCURRENT_RETRIES). */
  retries: number;
}

/**
 * Thrown from onConnect for a request that ended (client abort, 413) while it waited in the
 * pool queue: undici then drops it without touching the connection, whereas calling the abort function
 * at that point destroys the healthy keep-alive socket it was about to use (client-h1 writeH1).
 */
const ENDED_BEFORE_DISPATCH = new Error('proxied request ended before it was dispatched');
const CLIENT_ABORTED = new Error('client aborted the request');
const BODY_TOO_LARGE = new Error('request body exceeds maxRequestBodyBytes');
const COMPRESSION_FAILED = new Error('response compression failed');
const BODY_INVALID = new Error('request body is not valid for its content-encoding');
const BAD_TRANSFER_ENCODING = new Error('upstream response uses a transfer coding other than chunked');
const TOO_MANY_HEADERS = new Error('upstream response has more header fields than max_headers_count');
const RETRYING = new Error('upstream answer is retried');
const ROUTE_TIMED_OUT = new Error('the route timeout ran out before the response had all arrived');

/**
 * Proxied requests on a route with a route timeout, from their dispatch until they end. Envoy's
 * route timeout runs from when its router has the whole request to the end of the upstream's
 * response: it counts a wait for a free pooled connection, and the router's response timer stays
 * armed after the head (on expiry it resets a response already started), so a download or event
 * stream that keeps sending past it is cut. One 0.5 s tick checks them all (undici checks its own
 * timers on the same tick), so a proxied request costs a link into and out of this list (its own
 * `prev`/`next` fields: ~6 ns in a micro-benchmark, where a Set's add and delete of a new object
 * took ~0.5 µs), not a timer of its own. The tick runs only while some request is watched.
 */
let streamingHead: ProxyExchange | null = null;
let streamingTick: NodeJS.Timeout | null = null;
const STREAMING_TICK_MS = 500;

function checkStreaming(): void {
  if (streamingHead === null) {
    clearInterval(streamingTick!);
    streamingTick = null;
    return;
  }
  const now = performance.now();
  // checkRouteTimeout may unlink `ex` (it ends the exchange): take the next one first.
  for (let ex: ProxyExchange | null = streamingHead; ex !== null; ) {
    const next: ProxyExchange | null = ex.streamNext;
    ex.checkRouteTimeout(now);
    ex = next;
  }
}
/** Envoy's body for a reset of an attempt that was a retry (the router's `is_retry_`). */
const RETRIED_RESET = 'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: ';
/** Envoy's `max_headers_count` default for an upstream response (a cluster's common_http_protocol_options): one more is a protocol error. */
const MAX_RESPONSE_HEADER_FIELDS = 100;

function noop(): void {}

/** One forwarded request: the undici dispatch handler, the body owner and the outcome record. */
class ProxyExchange implements Dispatcher.DispatchHandler, RequestBodyOwner, ProxyOutcome {
  status = 0;
  code: ErrorCode | undefined = undefined;
  clientAborted = false;
  responseStarted = false;
  upstreamError = '';
  /** The route's stream idle timeout is the request's shortest timeout: its expiry is STREAM_IDLE_TIMEOUT. */
  idleTimeout = false;
  responseBodyBytes = 0;
  endpoint: string;
  attempts = 1;
  body: RequestBody | null = null;
  /** The route's retries, when it has a retry policy. */
  retry: RetryRun | null = null;
  /**
   * Envoy's auto_host_rewrite on a Backend's static host: each attempt sends its endpoint's host
   * as written (no port) as Host. A Service's endpoints have no host name there: left alone.
   */
  autoHost = false;

  private readonly counters: Counters;
  private readonly client: ClientExchange;
  /**
   * Set once the request is counted in its endpoint's `active`. Released when the exchange ends,
   * except for a request undici still holds in its queue (handed over, not yet on a connection):
   * that one keeps its place until undici drops it (onConnect throws, or onError), so requests
   * whose clients left cannot pile up in undici's queue, each with its buffered body, past
   * `maxPending` while the upstream is slow.
   */
  private slot: Endpoint | null = null;
  /** Handed to Pool.dispatch; `onConnection`: undici has since put it on a connection, or failed it. */
  private handedOver = false;
  private onConnection = false;
  private readonly onDone: ((outcome: ProxyOutcome) => void) | undefined;
  /** The route's response header rules: on the upstream's head, and on a local reply given here. */
  private readonly responseOps: readonly HeaderOp[] | undefined;
  /** The request, which the response rules' command operators read. */
  private readonly req: GatewayRequest;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private finished = false;
  private drainCb: (() => void) | null = null;
  /** The route's compressors and the request's Accept-Encoding (joined), when the route has any. */
  compression: RouteCompression | undefined = undefined;
  acceptEncoding: string | undefined = undefined;
  /** A HEAD request: its answer has no body. */
  headOnly = false;
  /** The response body's compressor, once the head chose one. */
  private encoder: zlib.Gzip | zlib.BrotliCompress | null = null;
  private encoderFlush = 0;
  /**
   * The bound on the wait for the head this attempt was given (undici's headersTimeout; 0 =
   * none, or a stream idle bound). undici restarts its timer at every interim (1xx) answer; this
   * one does not (onInterim).
   */
  headBoundMs = 0;
  /** performance.now() of the attempt's first interim answer once the client's body had all arrived; 0: none yet. */
  interimSince = 0;
  /**
   * Envoy's route timeout in ms (0: none), counted from when the whole request has passed the
   * gateway's checks (Envoy's router arms its timer then, after jwt_authn and the other filters):
   * it also bounds the response body once the head has gone out (see `streamingHead`).
   */
  routeMs = 0;
  /**
   * The bound on the wait for the response head, counted as routeMs is: the route timeout, or
   * the stream idle timeout where that is the shorter (0: none). The tick applies it to a request
   * that waited for a free connection (see checkRouteTimeout).
   */
  headLimitMs = 0;
  /** performance.now() when the request went to the upstream (set when headLimitMs > 0). */
  dispatchedAt = 0;
  /** Linked into the `streamingHead` list (see there): from its dispatch until it ends. */
  private watched = false;
  /** A tick found it still waiting for a pooled connection: the route timeout then bounds its head too. */
  private waitedForConnection = false;
  private streamPrev: ProxyExchange | null = null;
  streamNext: ProxyExchange | null = null;

  constructor(counters: Counters, client: ClientExchange, endpoint: string, onDone: ((outcome: ProxyOutcome) => void) | undefined, responseOps: readonly HeaderOp[] | undefined, req: GatewayRequest) {
    this.counters = counters;
    this.client = client;
    this.endpoint = endpoint;
    this.onDone = onDone;
    this.responseOps = responseOps;
    this.req = req;
  }

  /** Counts this request against `ep`'s connections and queue until the exchange ends. */
  occupy(ep: Endpoint): void {
    ep.active++;
    this.slot = ep;
  }

  /** The request goes to Pool.dispatch now. */
  handOver(): void {
    this.handedOver = true;
  }

  /**
   * The attempt on the upstream is over and another may follow (a retry): its place on its
   * endpoint is free, its upstream request is aborted (`reason`) if undici still runs it.
   */
  endAttempt(reason: Error | null): void {
    this.releaseSlot();
    this.handedOver = false;
    this.onConnection = false;
    this.waitedForConnection = false;
    const abort = this.abortUpstream;
    this.abortUpstream = null;
    this.resumeUpstream = null;
    if (reason !== null && abort !== null) abort(reason);
  }

  private releaseSlot(): void {
    if (this.slot !== null) {
      this.slot.active--;
      this.slot = null;
    }
  }

  get startedAt(): number {
    return this.client.startedAt;
  }

  get requestBodyBytes(): number {
    return this.body === null ? 0 : this.body.bytes;
  }

  /** Only the outcome fields: logging the exchange must not dump headers or buffers. */
  toJSON(): ProxyOutcome {
    return {
      status: this.status,
      code: this.code,
      clientAborted: this.clientAborted,
      responseStarted: this.responseStarted,
      endpoint: this.endpoint,
      attempts: this.attempts,
      upstreamError: this.upstreamError,
      requestBodyBytes: this.requestBodyBytes,
      responseBodyBytes: this.responseBodyBytes,
      startedAt: this.startedAt,
    };
  }

  get isFinished(): boolean {
    return this.finished;
  }

  // --- undici handler ---
  // undici 7's Client drives these callbacks itself (onConnect/onHeaders/onData/onComplete/
  // onError). A handler written to the v7 controller interface (onRequestStart/onResponse*) is
  // wrapped per request in an UnwrapHandler + UnwrapController, and that wrapper also turns
  // every response head and trailer list into a header object we never read: measured ~1.5 µs
  // per proxied request (bench/cpu.mjs, cache-hit). Raw header Buffers are all we need.

  /**
   * An interim answer. undici restarts its wait for the head at each one, so an upstream that
   * sent a 103 every few seconds held the request (and a pooled connection) forever; Envoy's
   * route timeout runs on through them. Counted from the first interim answer once the client's
   * request has all arrived (Envoy's timer starts when it ends, so this is never stricter), the
   * head must come within the same bound: a later 1xx past it ends the wait as undici's own timer
   * would (504, or a per-try timeout's retry).
   */
  private onInterim(): boolean {
    if (this.headBoundMs <= 0 || (this.body !== null && !this.body.clientEnded)) return true;
    const now = performance.now();
    if (this.interimSince === 0) this.interimSince = now;
    else if (now - this.interimSince >= this.headBoundMs) {
      const abort = this.abortUpstream;
      if (abort !== null) {
        abort(new errors.HeadersTimeoutError());
        return false;
      }
    }
    return true;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.onConnection = true;
    if (this.finished) {
      this.releaseSlot();
      throw ENDED_BEFORE_DISPATCH;
    }
    // With pipelining undici may retry an idempotent request on a new connection: keep the latest.
    this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx (103 Early Hints…) are not forwarded, as Envoy by default; the final head follows.
    if (this.finished) return true;
    if (statusCode < 200) return this.onInterim();
    if (rawHeaders.length > MAX_RESPONSE_HEADER_FIELDS * 2) {
      // Envoy's codec resets the stream at the 101st field (502, reset reason: protocol error).
      this.upstreamError = 'TOO_MANY_HEADERS';
      this.fail('UPSTREAM_BAD_RESPONSE');
      this.stopUpstream(TOO_MANY_HEADERS);
      return true;
    }
    const headers = clientResponseHeaders(rawHeaders);
    if (headers === undefined) {
      // A transfer coding other than chunked (Envoy: protocol error): the body cannot be passed on.
      this.upstreamError = 'UNSUPPORTED_TRANSFER_ENCODING';
      this.fail('UPSTREAM_BAD_RESPONSE');
      this.stopUpstream(BAD_TRANSFER_ENCODING);
      return true;
    }
    // The route's response rules (Envoy's router applies them to the upstream's head).
    if (this.responseOps !== undefined) applyHeaderOps(headers, this.responseOps, true, this.req, this.client.startedAt, statusCode);
    // Envoy's compressor filters see the head after the route's rules.
    if (this.compression !== undefined) {
      // Envoy's codec ends the stream with the head of a HEAD answer, a 204, a 304, and an answer
      // with Content-Length: 0 (ClientConnectionImpl::cannotHaveBody): never compressed.
      const bodyless = this.headOnly || statusCode === 204 || statusCode === 304 || zeroLength(headers);
      const codec = compressResponseHead(this.compression, this.acceptEncoding, headers, bodyless);
      if (codec !== undefined) this.startEncoder(codec);
    }
    this.resumeUpstream = resume;
    this.status = statusCode;
    this.responseStarted = true;
    this.client.writeHead(statusCode, headers);
    if (statusCode === 204 || statusCode === 304) {
      // No body by definition (RFC 9110 §15.3.5, §15.4.5): the answer is complete with its head,
      // and the client gets it now. undici may still fail the request after this: it reads a 304
      // that carries the entity's Content-Length (which RFC 9110 §8.6 allows) as a short body and
      // drops that upstream connection. Envoy forwards such a 304 as it is.
      this.client.end();
      this.finish(undefined);
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.finished) return true;
    this.responseBodyBytes += chunk.length;
    if (this.encoder !== null) return this.encode(chunk);
    if (this.client.write(chunk)) return true;
    // The client buffered this chunk but wants no more: stop reading the upstream socket
    // (TCP backpressure reaches the upstream) until the client drains.
    this.client.onDrain((this.drainCb ??= () => this.onClientDrain()));
    return false;
  }

  onComplete(): void {
    if (this.finished) return;
    // A compressed body ends when its compressor has written the rest ('end' below).
    if (this.encoder !== null) {
      this.encoder.end();
      return;
    }
    this.client.end();
    this.finish(undefined);
  }

  /**
   * Compresses the body with `codec` (Envoy's compressor: a flush after each chunk, so a streamed
   * answer is not held back). Backpressure: a client that wants no more pauses the compressor's
   * output; a compressor with a full input pauses the upstream.
   */
  private startEncoder(codec: Codec): void {
    const e = (this.encoder = createEncoder(codec));
    this.encoderFlush = flushKind(codec);
    e.on('data', (out: Buffer) => {
      if (this.finished) return;
      if (!this.client.write(out)) {
        e.pause();
        this.client.onDrain((this.drainCb ??= () => this.onClientDrain()));
      }
    });
    e.on('drain', () => {
      if (!this.finished) this.resumeUpstream?.();
    });
    e.on('end', () => {
      if (this.finished) return;
      this.client.end();
      this.finish(undefined);
    });
    e.on('error', () => {
      // A compressor failure (out of memory) after the head: the body cannot be completed.
      if (this.finished) return;
      this.upstreamError = 'COMPRESSION_FAILED';
      this.client.destroy();
      this.finish('INTERNAL');
      this.stopUpstream(COMPRESSION_FAILED);
    });
  }

  private encode(chunk: Buffer): boolean {
    const e = this.encoder!;
    const more = e.write(chunk);
    e.flush(this.encoderFlush);
    return more;
  }

  onError(err: Error): void {
    // undici is done with the request: whatever happens below, its place is free.
    this.onConnection = true;
    // Also reached before onConnect: connect failures error the request before it starts.
    if (this.finished) {
      this.releaseSlot();
      return;
    }
    this.upstreamError = upstreamErrorReason(err);
    const c = classifyUpstreamError(err);
    const code = c === 'UPSTREAM_TIMEOUT' && this.idleTimeout ? 'STREAM_IDLE_TIMEOUT' : c;
    const body = code === 'UPSTREAM_UNAVAILABLE' ? upstreamUnavailableBody(err) : undefined;
    // A name that does not resolve: the endpoint leaves the rotation until a lookup finds it.
    if (body === NO_HEALTHY_UPSTREAM && this.slot !== null && nameDoesNotResolve(err)) this.slot.markUnresolved();
    this.fail(code, body);
  }

  /**
   * The route timeout on the `streamingHead` tick: counted from the dispatch of a request without
   * a body, or from the last chunk of a body (Envoy arms its timer when the router has the whole
   * request). Before the head it answers a request that waited for a free connection (504); after
   * it, a response not over `routeMs` later is cut as Envoy resets it: the client connection
   * closes, counted as UPSTREAM_TIMEOUT.
   */
  checkRouteTimeout(now: number): void {
    if (!this.responseStarted) {
      // Before the head, undici's headersTimeout bounds a request, counted from when it went on
      // a connection; that leaves out a wait for a free one, which Envoy's route timeout counts
      // (the router arms it before the pool has a connection). So a request a tick finds still
      // waiting is bounded here from its dispatch (one sent within a tick is left to undici).
      // Between two attempts of a retried request, the retry's own timer bounds the backoff.
      if (!this.onConnection) {
        if (!this.handedOver) return;
        this.waitedForConnection = true;
      } else if (!this.waitedForConnection) return;
    }
    const body = this.body;
    let since: number;
    if (body === null) since = this.dispatchedAt;
    else if (body.clientEnded) since = body.endedAt;
    else return;
    const limit = this.responseStarted ? this.routeMs : this.headLimitMs;
    if (limit === 0 || now - since < limit) return;
    this.upstreamError = 'ROUTE_TIMEOUT';
    // Before the head, as the retry's timer words a route timeout that ran out (a stream idle
    // bound that is the shorter one: Envoy's stream timeout).
    this.fail(!this.responseStarted && this.idleTimeout ? 'STREAM_IDLE_TIMEOUT' : 'UPSTREAM_TIMEOUT');
    this.stopUpstream(ROUTE_TIMED_OUT);
  }

  watch(): void {
    this.watched = true;
    const head = streamingHead;
    this.streamNext = head;
    if (head !== null) head.streamPrev = this;
    streamingHead = this;
    if (streamingTick === null) {
      streamingTick = setInterval(checkStreaming, STREAMING_TICK_MS);
      streamingTick.unref();
    }
  }

  private unwatch(): void {
    this.watched = false;
    const prev = this.streamPrev;
    const next = this.streamNext;
    if (prev !== null) prev.streamNext = next;
    else streamingHead = next;
    if (next !== null) next.streamPrev = prev;
    this.streamPrev = this.streamNext = null;
  }

  // --- client side ---

  onClientDrain(): void {
    if (this.finished) return;
    // A compressed body: the compressor's output was paused; its input drains on its own.
    if (this.encoder !== null) {
      this.encoder.resume();
      return;
    }
    // undici's resume does nothing unless its parser is paused.
    this.resumeUpstream?.();
  }

  onClientAbort(): void {
    if (this.finished) return;
    this.clientAborted = true;
    this.finish(undefined);
    this.stopUpstream(CLIENT_ABORTED);
  }

  onBodyNotKept(): void {
    this.retry?.event('abandoned');
  }

  onBodyInvalid(): void {
    if (this.finished) return;
    // The rest of the body is not read: closed.
    this.client.closeAfterResponse = true;
    this.fail('REQUEST_INVALID');
    this.stopUpstream(BODY_INVALID);
  }

  onBodyTooLarge(): void {
    if (this.finished) return;
    // The rest of an oversized body is not read (and dropped) for the connection's sake: closed.
    this.client.closeAfterResponse = true;
    this.fail('REQUEST_BODY_TOO_LARGE');
    this.stopUpstream(BODY_TOO_LARGE);
  }

  /** Ends the exchange with `code`: a local reply before the response head, a closed connection after it. */
  fail(code: ErrorCode, body?: string): void {
    if (this.finished) return;
    if (this.responseStarted) {
      // The upstream's head has come: never a local reply saying "before headers" (a 503 a
      // client may retry, for a request the upstream has acted on). Envoy forwards the head,
      // then resets the stream.
      if (this.client.headWritten) this.client.destroy();
      else this.client.abortAfterHead();
    } else {
      this.status = ERRORS[code].status;
      // After a retry, Envoy's reset bodies say the request was retried.
      if (this.attempts > 1) {
        const b = body ?? ERRORS[code].body;
        if (b.startsWith(UPSTREAM_RESET)) body = RETRIED_RESET + b.slice(UPSTREAM_RESET.length);
      }
      // Envoy applies the route's response rules to the router's local replies too.
      sendError(this.client, code, this.req, body, this.responseOps);
    }
    this.finish(code);
  }

  private stopUpstream(reason: Error): void {
    // Running: an HTTP/1.1 request can only be cancelled by closing its connection; undici does
    // that and calls onError, which is ignored since the exchange is finished. Not yet
    // dispatched: onConnect drops it.
    const abort = this.abortUpstream;
    if (abort !== null) {
      this.abortUpstream = null;
      abort(reason);
    }
    if (this.body !== null && !this.body.destroyed) this.body.destroy();
  }

  private finish(code: ErrorCode | undefined): void {
    this.finished = true;
    if (this.watched) this.unwatch();
    if (this.encoder !== null && !this.encoder.destroyed) this.encoder.destroy();
    this.code = code;
    if (this.retry !== null) this.retry.end();
    // A client body we paused must not stay paused once nobody reads it (after a 413, or an
    // upstream that answered before reading the whole upload).
    if (this.body !== null) this.body.detach();
    if (!this.handedOver || this.onConnection) this.releaseSlot();
    const c = this.counters;
    c.inFlight--;
    if (code !== undefined) c.errors[code] = (c.errors[code] ?? 0) + 1;
    else if (this.clientAborted) c.clientAborts++;
    else c.completed++;
    if (this.onDone !== undefined) {
      try {
        this.onDone(this);
      } catch {
        // A logging/metrics bug must not break the proxy (this may run inside an undici callback).
      }
    }
  }
}

/**
 * The undici handler of one attempt of a route with retries: it passes undici's callbacks on to
 * the exchange unless the answer or failure is retried, and ignores the callbacks of an attempt
 * that was given up for another (`superseded`).
 */
class Attempt implements Dispatcher.DispatchHandler {
  superseded = false;
  constructor(
    private readonly run: RetryRun,
    private readonly ex: ProxyExchange,
    /** Its wait for the head is bounded by the per-try timeout (not the route's, which ends every attempt). */
    readonly perTry: boolean,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    if (this.superseded) throw ENDED_BEFORE_DISPATCH;
    this.ex.onConnect(abort);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.superseded) return true;
    if (statusCode >= 200 && this.run.onAnswer(this, statusCode, rawHeaders)) return true;
    return this.ex.onHeaders(statusCode, rawHeaders, resume);
  }

  onData(chunk: Buffer): boolean {
    return this.superseded || this.ex.onData(chunk);
  }

  onComplete(): void {
    if (!this.superseded) this.ex.onComplete();
  }

  onError(err: Error): void {
    if (this.superseded || this.run.onFailure(this, err)) return;
    // A per-try timeout is Envoy's `upstream request timeout`, whatever the route's idle bound.
    if (this.perTry) this.ex.idleTimeout = false;
    this.ex.onError(err);
  }
}

/**
 * The retries of one request, as Envoy's router runs them: after an answer or a failure its
 * policy retries, the attempt is given up (an answer's connection is closed, as Envoy resets the
 * upstream stream), and after a jittered backoff the request goes to the next endpoint the
 * backend's round robin picks, with the body kept from the first attempt (and the rest of it as
 * it comes). The route timeout bounds all the attempts together; a per-try timeout each one's wait
 * for its head. A retry needs the body kept (up to RETRY_BUFFER_BYTES), a retry left, and a place
 * among the backend's retries in progress; otherwise the answer or failure goes to the client as
 * it is.
 */
class RetryRun {
  private left: number;
  private interval: number;
  private timer: NodeJS.Timeout | null = null;
  /** The backoff's timer is the route timeout's: it ends the request. */
  private expires = false;
  /** A place among the backend's retries in progress is held (until the next decision or the end). */
  private held = false;
  /** performance.now() by which every attempt must have its head; Infinity: no route bound. */
  private readonly deadline: number;
  /** The gap bound between body chunks (the route's), 0 = none. */
  private readonly gapMs: number;

  constructor(
    private readonly fwd: Forwarder,
    private readonly ex: ProxyExchange,
    private readonly policy: RouteRetry,
    private readonly target: BackendTarget,
    private readonly opts: Dispatcher.DispatchOptions,
    bound: HeadBound,
    private readonly emit: ((e: RetryEvent) => void) | undefined,
  ) {
    this.left = policy.numRetries;
    this.interval = policy.backoffBaseMs;
    this.deadline = bound.ms > 0 ? performance.now() + bound.ms : Infinity;
    this.gapMs = bound.ms;
    if (bound.idle) ex.idleTimeout = true;
  }

  event(e: RetryEvent): void {
    this.emit?.(e);
  }

  /** Sends an attempt to `endpoint`, bounded by the route's time left (see fire). */
  send(endpoint: Endpoint): void {
    const ex = this.ex;
    ex.upstreamError = '';
    // At least 1 ms: undici refuses a negative timeout and reads 0 as none.
    const remaining = Math.max(1, this.deadline - performance.now());
    const perTryMs = this.policy.perTryTimeoutMs ?? 0;
    // Envoy: the per-try timeout applies when it is shorter than the route's time (what is left of it).
    const perTry = perTryMs > 0 && perTryMs < remaining;
    const opts = this.opts;
    opts.headersTimeout = perTry ? perTryMs : remaining === Infinity ? 0 : Math.ceil(remaining);
    opts.bodyTimeout = this.gapMs;
    // A stream idle bound is a gap timer, which any answer from the upstream restarts: left to undici.
    ex.headBoundMs = perTry || !ex.idleTimeout ? opts.headersTimeout : 0;
    ex.interimSince = 0;
    this.fwd.dispatchAttempt(endpoint, opts, ex, new Attempt(this, ex, perTry));
  }

  /** An attempt's answer (status >= 200): true when it is retried (the attempt is then given up). */
  onAnswer(a: Attempt, status: number, raw: Buffer[]): boolean {
    this.release();
    if (this.ex.isFinished || !retriableAnswer(this.policy, status, raw) || !this.mayRetry()) return false;
    // Envoy resets the upstream stream: for HTTP/1.1, its connection is closed.
    this.retryAfter(a, RETRYING);
    return true;
  }

  /** An attempt failed before its answer: true when it is retried. */
  onFailure(a: Attempt, err: Error): boolean {
    this.release();
    if (this.ex.isFinished) return false;
    const failure = attemptFailure(err, a.perTry);
    if (failure === undefined || !retriableFailure(this.policy, failure) || !this.mayRetry()) return false;
    this.ex.upstreamError = upstreamErrorReason(err);
    this.retryAfter(a, null);
    return true;
  }

  /** Whether a retry may be made now (Envoy's shouldRetry, after the policy said it would). */
  private mayRetry(): boolean {
    // A body that outgrew the buffer leaves the request without a retry policy (counted as
    // abandoned when that happened).
    if (this.ex.body !== null && this.ex.body.kept === null) return false;
    if (this.left === 0) {
      this.event('limit_exceeded');
      return false;
    }
    this.left--;
    const state = this.fwd.targetState(this.target);
    if (state === undefined || state.retries >= MAX_CONCURRENT_RETRIES) {
      this.event('overflow');
      return false;
    }
    state.retries++;
    this.held = true;
    this.event('retry');
    return true;
  }

  private retryAfter(a: Attempt, reason: Error | null): void {
    a.superseded = true;
    this.ex.endAttempt(reason);
    this.ex.body?.attemptEnded();
    const { waitMs, next } = backoff(this.policy, this.interval, Math.random());
    this.interval = next;
    // The route timeout runs on during the backoff: at its expiry the retry gives way to the 504.
    const left = this.deadline - performance.now();
    this.expires = waitMs >= left;
    this.timer = setTimeout(this.fire, this.expires ? Math.max(0, left) : waitMs);
  }

  private readonly fire = (): void => {
    this.timer = null;
    const ex = this.ex;
    if (ex.isFinished) return;
    // The route's time ran out during the backoff (or the timer came late): Envoy's global
    // timeout answers, no retry is sent.
    if (this.expires || performance.now() >= this.deadline) {
      ex.fail(ex.idleTimeout ? 'STREAM_IDLE_TIMEOUT' : 'UPSTREAM_TIMEOUT');
      return;
    }
    const body = ex.body;
    if (body !== null) {
      // The body outgrew the buffer while the retry waited: Envoy answers 507.
      if (body.kept === null) {
        ex.fail('RETRY_BUFFER_EXCEEDED');
        return;
      }
      this.opts.body = body.replay();
    }
    ex.attempts++;
    this.fwd.retryAttempt(this, ex, this.target);
  };

  /** The next retry decision came, or the exchange ended: a held place is given back. */
  private release(): void {
    if (!this.held) return;
    this.held = false;
    const state = this.fwd.targetState(this.target);
    if (state !== undefined) state.retries--;
  }

  /** The exchange is over: no attempt follows. */
  end(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.release();
  }
}

/**
 * What kind of failure of an attempt `err` is, for the retry policy: undefined for one Envoy never
 * retries (the route timeout, a backend without an address, a request that could not be sent).
 */
function attemptFailure(err: Error, perTry: boolean): AttemptFailure | undefined {
  switch (classifyUpstreamError(err)) {
    case 'UPSTREAM_TIMEOUT':
      return perTry && upstreamErrorReason(err) === 'UND_ERR_HEADERS_TIMEOUT' ? 'per-try-timeout' : undefined;
    case 'UPSTREAM_BAD_RESPONSE':
      // Envoy resets the stream on a protocol error: a reset.
      return 'reset';
    case 'UPSTREAM_UNAVAILABLE': {
      // Envoy's local replies with these bodies are connection failures; `no healthy upstream` is
      // no attempt at all; the rest (connection termination) are resets.
      const body = upstreamUnavailableBody(err);
      if (body === NO_HEALTHY_UPSTREAM) return undefined;
      return body === undefined ? 'reset' : 'connect';
    }
    default:
      return undefined;
  }
}

const MIRROR_TIMEOUT = new Error('mirrored request cut: the route timeout, or the forwarder closing');

interface MirrorCopy {
  readonly endpoint: Endpoint;
  readonly body: MirrorBody | null;
}

/** The undici handler of a mirrored copy: its answer is read and dropped (Envoy discards the shadow's). */
class MirrorExchange implements Dispatcher.DispatchHandler {
  private done = false;
  private abortFn: ((err?: Error) => void) | null = null;
  /** Given up (its deadline, or the forwarder closing) before undici put it on a connection. */
  private cut = false;
  private timer: NodeJS.Timeout | null = null;
  constructor(
    private readonly endpoint: Endpoint,
    private readonly body: MirrorBody | null,
    private readonly report: ((result: MirrorResult) => void) | undefined,
    /** The forwarder's copies in flight (it cuts them when it closes). */
    private readonly live: Set<MirrorExchange>,
  ) {
    live.add(this);
  }

  /** Cut at `ms` whatever it is doing: the route's timeout bounds the whole copy. */
  expireAfter(ms: number): void {
    this.timer = setTimeout(() => this.abort(MIRROR_TIMEOUT), ms);
    this.timer.unref();
  }

  /** Ends the copy now: on its connection, by closing it; waiting for one, when it would get it. */
  abort(reason: Error): void {
    if (this.done) return;
    if (this.abortFn !== null) this.abortFn(reason);
    else this.cut = true;
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.cut) throw MIRROR_TIMEOUT;
    this.abortFn = abort;
  }
  onHeaders(): boolean {
    return true;
  }
  onData(): boolean {
    return true;
  }
  onComplete(): void {
    this.end('sent');
  }
  onError(_err: Error): void {
    this.end(this.body?.abandoned ? 'abandoned' : 'failed');
  }
  private end(result: MirrorResult): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.live.delete(this);
    this.endpoint.active--;
    this.report?.(result);
  }
}

/** Envoy's connection manager stream_idle_timeout default (kgateway leaves it unset). */
const ENVOY_STREAM_IDLE_MS = 300_000;

/** requestTimeout's answer: the bound on the wait for the head, and whether it is the stream idle one. */
export interface HeadBound {
  readonly ms: number;
  readonly idle: boolean;
}

/**
 * The bound on a request of a route with its own timeouts: the route timeout (its own, or
 * `defaultMs`) and the stream idle timeout, whichever is shorter, bound the wait for the response
 * head and each gap between body chunks (0 = none); the route timeout also bounds the whole
 * response (ProxyExchange.routeMs). `idle`: the idle timeout is the shorter, so its
 * expiry before the head is Envoy's stream idle timeout (`504 stream timeout`), not the route
 * timeout. A route timeout turned off (0s) without a stream idle timeout of its own still ends a
 * stream idle for Envoy's connection-manager default, 5 minutes.
 */
export function requestTimeout(t: RouteTimeouts, defaultMs: number): HeadBound {
  const ms = t.requestMs ?? defaultMs;
  const idle = t.idleMs ?? (ms === 0 ? ENVOY_STREAM_IDLE_MS : undefined);
  if (idle !== undefined && idle > 0 && (ms === 0 || idle < ms)) return { ms: idle, idle: true };
  return { ms, idle: false };
}

export class Forwarder {
  private readonly poolOptions: Pool.Options;
  private readonly maxRequestBodyBytes: number;
  /** `timeoutMs`: the route timeout of routes that set none (0 = none). */
  private readonly defaultTimeoutMs: number;
  /** requestTimeout's answer for a route without timeouts: made once, not per request. */
  private readonly defaultBound: HeadBound;
  /** An endpoint with this many active requests (connections + queue) answers the next with UPSTREAM_OVERFLOW. */
  private readonly maxActive: number;
  private readonly dnsRefreshMs: number;
  private readonly lookupQueue: Endpoint[] = [];
  private lookupsRunning = 0;
  private readonly endpoints = new Map<string, Endpoint>();
  /** Per snapshot target object: a new snapshot brings new objects, the old state is collected. */
  private readonly targets = new WeakMap<BackendTarget, TargetState>();
  private readonly counters: Counters = { requests: 0, inFlight: 0, completed: 0, clientAborts: 0, errors: {} };
  private closed = false;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;
  private readonly onMirror: ((result: MirrorResult) => void) | undefined;
  /** Mirrored copies in flight: cut when the forwarder closes (Envoy does not wait for shadows). */
  private readonly copies = new Set<MirrorExchange>();

  constructor(opts: ForwarderOptions = {}) {
    const timeoutMs = opts.timeoutMs ?? 15000;
    this.defaultTimeoutMs = timeoutMs;
    this.defaultBound = { ms: timeoutMs, idle: false };
    this.maxRequestBodyBytes = opts.maxRequestBodyBytes ?? 0;
    const connections = opts.connections ?? 128;
    const pipelining = opts.pipelining ?? 1;
    this.maxActive = connections * pipelining + (opts.maxPending ?? 1024);
    this.dnsRefreshMs = opts.dnsRefreshMs ?? 5000;
    this.onRetry = opts.onRetry;
    this.onMirror = opts.onMirror;
    this.poolOptions = {
      connections,
      pipelining,
      connectTimeout: opts.connectTimeoutMs ?? 5000,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 4000,
      maxHeaderSize: opts.maxResponseHeaderBytes ?? 61440,
      // A throwing handler makes undici emit 'error' on the Client; unhandled, that would crash
      // the process. Handlers here do not throw (except the deliberate onConnect drop,
      // which undici handles), this is the safety net.
      factory: (origin, options) => {
        const client = new Client(origin, options as Client.Options);
        (client as EventEmitter).on('error', noop);
        return client;
      },
    };
  }

  /**
   * Forwards `req` to the next endpoint of `target` (round robin) and streams the response to
   * `client`. Never throws; every failure becomes a local reply or a closed client connection.
   * `onDone` is called exactly once, when the exchange is over (response complete, failed, or
   * the client went away).
   */
  forward(req: GatewayRequest, target: BackendTarget, client: ClientExchange, onDone?: (outcome: ProxyOutcome) => void, mutation?: RouteHeaderMutation, route?: UpstreamPolicy): void {
    const timeouts = route?.timeouts;
    const retry = route?.retry;
    this.counters.requests++;
    this.counters.inFlight++;
    const endpoint = this.closed ? null : this.pick(target);
    const responseOps = mutation !== undefined && mutation.response.length > 0 ? mutation.response : undefined;
    const ex = new ProxyExchange(this.counters, client, endpoint === null ? '' : endpoint.key, onDone, responseOps, req);
    const compression = route?.compression;
    if (compression !== undefined) {
      ex.compression = compression;
      ex.acceptEncoding = joinedHeaderValue(req.headers, 'accept-encoding');
      ex.headOnly = req.method === 'HEAD';
    }
    if (client.done) {
      ex.onClientAbort();
      return;
    }
    if (endpoint === null) {
      // Envoy answers `no healthy upstream` (503) here.
      ex.upstreamError = this.closed ? 'FORWARDER_CLOSED' : 'NO_ENDPOINTS';
      ex.fail('UPSTREAM_UNAVAILABLE', NO_HEALTHY_UPSTREAM);
      return;
    }
    const limit = this.maxRequestBodyBytes;
    if (limit > 0 && client.contentLength > limit) {
      client.closeAfterResponse = true;
      ex.fail('REQUEST_BODY_TOO_LARGE');
      return;
    }
    // Checked before dispatch: a request undici refuses fails inside dispatch(), and undici's Pool
    // then never uses the connection it picked for it again (pool-base marks it as needing a
    // drain that an idle connection never emits), so a few such requests jam the endpoint.
    const path = upstreamTarget(req.upstreamPath ?? req.path, req.query);
    const headers = path === undefined ? undefined : upstreamRequestHeaders(req);
    if (headers === undefined) {
      // Envoy's codec refuses these (a codec error): 400, then the connection closes.
      client.closeAfterResponse = true;
      ex.fail('REQUEST_INVALID');
      return;
    }
    // A body the buffer filter read whole goes with its length (Envoy's buffer filter adds
    // content-length to a chunked request; the connection manager dropped transfer-encoding).
    // undici 7 derives the same length from the ended stream it is given; set here so that the
    // framing does not rest on that.
    if (req.heldBodyBytes !== undefined && client.contentLength < 0) headers.push('content-length', String(req.heldBodyBytes));
    // TrafficPolicy requestDecompression: a body in one of the route's codecs goes inflated,
    // chunked, without its content-length and that content-encoding.
    const decode = route?.decompression !== undefined && client.hasBody ? decodingFor(route.decompression, headers) : undefined;
    // The route's request rules, last, as Envoy's router applies them (after every filter and
    // the connection manager's own fields).
    if (mutation !== undefined && mutation.request.length > 0) applyHeaderOps(headers, mutation.request, false, req, client.startedAt);
    // A URLRewrite changed the path: Envoy's router then sets x-envoy-original-path to the path
    // and query it replaced (kgateway does not suppress Envoy's headers), after the header rules.
    if (req.upstreamPath !== undefined) setOriginalPath(headers, req.query === '' ? req.path : `${req.path}?${req.query}`);
    // TrafficPolicy autoHostRewrite: Envoy sets the Host when the connection is ready, after
    // everything else (so over a header rule's), for the host each attempt goes to. A mirror
    // keeps the Host from before (Envoy copies the shadow's headers before that rewrite).
    let shadowFrom: string | undefined;
    if (route?.autoHostRewrite === true && target.key.startsWith('Backend/')) {
      ex.autoHost = true;
      if (route.mirrors !== undefined) shadowFrom = firstHeaderValue(headers, 'host');
      setHost(headers, endpoint.host);
    }
    // What a response rule's %REQ(x)% reads (Envoy's downstream map, which the router edited).
    // Kept only where there are response rules: otherwise the list is not held for the exchange.
    if (responseOps !== undefined) req.sentHeaders = headers;
    if (endpoint.active >= this.maxActive) {
      ex.fail('UPSTREAM_OVERFLOW');
      return;
    }
    ex.occupy(endpoint);
    try {
      client.onAbort(() => ex.onClientAbort());
      let body: RequestBody | null = null;
      // The route's mirrors that take this request, each with its copy of the body (set up before
      // the body is read: onBody hands over what has already arrived at once).
      const copies = route?.mirrors !== undefined ? this.mirrorCopies(route.mirrors, client.hasBody) : undefined;
      if (client.hasBody) {
        // A route with retries keeps the body (up to Envoy's buffer limit) for another attempt.
        body = ex.body = new RequestBody(client, limit, ex, retry === undefined ? 0 : RETRY_BUFFER_BYTES);
        if (copies !== undefined) for (const c of copies) body.mirrorTo(c.body!);
        if (decode !== undefined) {
          body.decode(decode);
          client.onBody((chunk, isLast) => body!.onEncodedChunk(chunk, isLast));
        } else client.onBody((chunk, isLast) => body!.onChunk(chunk, isLast));
        // Buffered chunks are delivered synchronously by onBody and may already exceed the limit.
        if (ex.isFinished) {
          if (copies !== undefined) this.dropMirrors(copies);
          return;
        }
      }
      const opts: Dispatcher.DispatchOptions = {
        path: path!,
        method: req.method,
        headers,
        body,
        // A streamed body cannot be replayed: never let undici retry it on another connection.
        idempotent: body === null ? undefined : false,
      };
      ex.routeMs = timeouts?.requestMs ?? this.defaultTimeoutMs;
      const bound = timeouts !== undefined ? requestTimeout(timeouts, this.defaultTimeoutMs) : this.defaultBound;
      // Watched from now (the tick's list): the head's bound also counts a wait for a free connection.
      if ((ex.headLimitMs = bound.ms) > 0) ex.dispatchedAt = performance.now();
      if (retry !== undefined) {
        const run = (ex.retry = new RetryRun(this, ex, retry, target, opts, bound, this.onRetry));
        // send() counts the request on its endpoint again, as it does for every attempt.
        ex.endAttempt(null);
        if (ex.headLimitMs > 0) ex.watch();
        run.send(endpoint);
      } else {
        ex.handOver();
        if (timeouts !== undefined) this.routeTimeouts(opts, ex, bound);
        if (!ex.idleTimeout) ex.headBoundMs = opts.headersTimeout ?? this.defaultTimeoutMs;
        if (ex.headLimitMs > 0) ex.watch();
        endpoint.pool!.dispatch(opts, ex);
        // An error reported before dispatch() returned is undici refusing the request itself.
        if (ex.upstreamError === 'UND_ERR_INVALID_ARG') this.replacePool(endpoint);
      }
      // Envoy starts the shadows right after the primary's upstream request, with its final head
      // (after it: a copy queued ahead of the primary on a shared endpoint would hold it back).
      if (copies !== undefined) this.sendMirrors(copies, opts, timeouts, shadowFrom);
    } catch (err) {
      // dispatch() reports its own errors through the handler; this catches the unexpected.
      ex.onError(err as Error);
    }
  }

  /** The mirrors of `mirrors` this request goes to (one draw for all, as Envoy's), each with its endpoint. */
  private mirrorCopies(list: readonly RouteMirror[], hasBody: boolean): MirrorCopy[] | undefined {
    let out: MirrorCopy[] | undefined;
    const draw = mirrorDraw(Math.random());
    for (const m of list) {
      if (!mirrored(m, draw)) continue;
      const endpoint = this.closed ? null : this.pick(m.target);
      // Envoy's shadow to a cluster with no host, or over its pending limit, is not sent.
      if (endpoint === null || endpoint.active >= this.maxActive) {
        this.onMirror?.('overflow');
        continue;
      }
      // Counted from now, so that two mirrors on one endpoint cannot pass its limit together.
      endpoint.active++;
      (out ??= []).push({ endpoint, body: hasBody ? new MirrorBody() : null });
    }
    return out;
  }

  /** The request ended before it was sent (a 413 on its buffered body): its copies are not sent either. */
  private dropMirrors(copies: readonly MirrorCopy[]): void {
    for (const c of copies) {
      c.endpoint.active--;
      this.onMirror?.('abandoned');
    }
  }

  /**
   * Sends the copies: the request's head with Envoy's shadow Host, answers discarded. `host`: the
   * Host the shadow is made from when the primary's was rewritten for its endpoint (autoHostRewrite).
   */
  private sendMirrors(copies: readonly MirrorCopy[], primary: Dispatcher.DispatchOptions, timeouts: RouteTimeouts | undefined, host?: string): void {
    const headers = (primary.headers as string[]).slice();
    for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'host') headers[i + 1] = shadowHost(host ?? headers[i + 1]!);
    // Envoy gives a shadow the route's global timeout, a deadline for the whole answer (0: none).
    const deadlineMs = timeouts?.requestMs ?? this.defaultTimeoutMs;
    for (const c of copies) {
      const h = new MirrorExchange(c.endpoint, c.body, this.onMirror, this.copies);
      if (deadlineMs > 0) h.expireAfter(deadlineMs);
      try {
        c.endpoint.pool!.dispatch({ path: primary.path, method: primary.method, headers, body: c.body, idempotent: false, headersTimeout: 0, bodyTimeout: 0 }, h);
      } catch (err) {
        h.onError(err as Error);
      }
    }
  }

  /** An attempt of a route with retries goes to `endpoint` (counted there until undici is done with it). */
  dispatchAttempt(endpoint: Endpoint, opts: Dispatcher.DispatchOptions, ex: ProxyExchange, attempt: Attempt): void {
    ex.endpoint = endpoint.key;
    // Envoy rewrites the Host of each upstream request for the host it goes to.
    if (ex.autoHost) setHost(opts.headers as string[], endpoint.host);
    ex.occupy(endpoint);
    ex.handOver();
    try {
      endpoint.pool!.dispatch(opts, attempt);
    } catch (err) {
      attempt.onError(err as Error);
      return;
    }
    if (ex.upstreamError === 'UND_ERR_INVALID_ARG') this.replacePool(endpoint);
  }

  /** A retry: the next endpoint of the backend's rotation, as Envoy's load balancer picks again. */
  retryAttempt(run: RetryRun, ex: ProxyExchange, target: BackendTarget): void {
    const endpoint = this.closed ? null : this.pick(target);
    if (endpoint === null) {
      ex.upstreamError = this.closed ? 'FORWARDER_CLOSED' : 'NO_ENDPOINTS';
      ex.fail('UPSTREAM_UNAVAILABLE', NO_HEALTHY_UPSTREAM);
      return;
    }
    if (endpoint.active >= this.maxActive) {
      ex.fail('UPSTREAM_OVERFLOW');
      return;
    }
    run.send(endpoint);
  }

  /** The rotation state of a backend, once a request has picked from it. */
  targetState(target: BackendTarget): TargetState | undefined {
    return this.targets.get(target);
  }

  /** A route's own timeouts on its request (see requestTimeout). */
  private routeTimeouts(opts: Dispatcher.DispatchOptions, ex: ProxyExchange, bound: HeadBound): void {
    const { ms, idle } = bound;
    if (idle) ex.idleTimeout = true;
    opts.headersTimeout = ms;
    opts.bodyTimeout = ms;
  }

  /**
   * undici refused a request inside Pool.dispatch (a check before dispatch should have caught
   * it): its Pool then never again uses the connection it had picked, so the endpoint gets a new
   * Pool, and the old one finishes what it holds and closes.
   */
  private replacePool(endpoint: Endpoint): void {
    const old = endpoint.pool;
    endpoint.pool = this.newPool(endpoint.key);
    old?.close().catch(noop);
  }

  /** A Pool for `host:port`, or null when undici refuses the origin (a host that is not an address). */
  private newPool(key: string): Pool | null {
    try {
      return new Pool(`http://${key}`, this.poolOptions);
    } catch {
      return null;
    }
  }

  /** Forwarded requests whose exchange has not ended. */
  get inFlight(): number {
    return this.counters.inFlight;
  }

  /** Counters and per-endpoint pool state. */
  stats(): ForwarderStats {
    const endpoints: Record<string, EndpointStats> = {};
    for (const [key, { pool }] of this.endpoints) {
      if (pool === null) continue;
      const s = pool.stats;
      endpoints[key] = { connected: s.connected, free: s.free, queued: s.pending, running: s.running };
    }
    const c = this.counters;
    return { requests: c.requests, inFlight: c.inFlight, completed: c.completed, clientAborts: c.clientAborts, errors: { ...c.errors }, endpoints };
  }

  /**
   * Closes the pools of endpoints no target in `targets` uses any more (call after a snapshot
   * swap with `snapshot.backends.values()`). Requests in flight on them finish first.
   */
  async retainOnly(targets: Iterable<BackendTarget>): Promise<void> {
    const keep = new Set<string>();
    for (const t of targets) for (const e of t.endpoints) keep.add(endpointKey(e.host, e.port));
    const closing: Promise<void>[] = [];
    for (const [key, e] of this.endpoints) {
      if (keep.has(key)) continue;
      e.retired = true;
      this.endpoints.delete(key);
      if (e.pool !== null) closing.push(e.pool.close());
    }
    await Promise.all(closing);
  }

  /** Stops accepting requests (they get 503) and closes every pool once its requests finished. */
  async close(): Promise<void> {
    await Promise.all(this.retireAll().map((p) => p.close()));
  }

  /** Like close() but aborts requests in flight (their clients get 503 or a closed connection). */
  async destroy(): Promise<void> {
    await Promise.all(this.retireAll().map((p) => p.destroy()));
  }

  /** Stops the forwarder and every endpoint (no more lookups); returns their pools. */
  private retireAll(): Pool[] {
    this.closed = true;
    for (const c of [...this.copies]) c.abort(MIRROR_TIMEOUT);
    const pools: Pool[] = [];
    for (const e of this.endpoints.values()) {
      e.retired = true;
      if (e.pool !== null) pools.push(e.pool);
    }
    this.endpoints.clear();
    return pools;
  }

  private pick(target: BackendTarget): Endpoint | null {
    let state = this.targets.get(target);
    if (state === undefined) {
      state = { endpoints: target.endpoints.map((e) => this.endpointFor(e.host, e.port)), next: 0, retries: 0 };
      this.targets.set(target, state);
    }
    const n = state.endpoints.length;
    if (n === 0) return null;
    // Round robin over the endpoints that have an address: one whose name does not resolve is
    // passed over (its lookup is repeated in the background). With none left the answer is
    // Envoy's 'no healthy upstream', at once: a connect would only look the name up again, on
    // libuv's few lookup threads every other connect needs too.
    for (let tries = 0; tries < n; tries++) {
      const i = state.next;
      state.next = i + 1 === n ? 0 : i + 1;
      let endpoint = state.endpoints[i]!;
      // retainOnly() may have closed it while an older snapshot's target still points at it.
      if (endpoint.pool?.closed) {
        const e = target.endpoints[i]!;
        endpoint = state.endpoints[i] = this.endpointFor(e.host, e.port);
      }
      if (endpoint.pool === null || endpoint.unresolved) continue;
      return endpoint;
    }
    return null;
  }

  /**
   * Creates the endpoints of these targets now (when a configuration is installed), so that host
   * names are looked up before the first request: one that does not resolve is out of the
   * rotation from the start, as Envoy's STRICT_DNS cluster resolves before it serves.
   */
  prepare(targets: Iterable<BackendTarget>): void {
    for (const t of targets) for (const e of t.endpoints) this.endpointFor(e.host, e.port);
  }

  private endpointFor(host: string, port: number): Endpoint {
    const key = endpointKey(host, port);
    let endpoint = this.endpoints.get(key);
    if (endpoint === undefined) {
      const kind = hostKind(host);
      const ep: Endpoint = {
        key,
        host,
        pool: kind === undefined ? null : this.newPool(key),
        active: 0,
        unresolved: false,
        probing: false,
        retired: false,
        markUnresolved: () => {
          if (ep.unresolved) return;
          ep.unresolved = true;
          this.lookUp(ep, this.dnsRefreshMs);
        },
      };
      endpoint = ep;
      this.endpoints.set(key, ep);
      if (kind === 'name' && ep.pool !== null) this.lookUp(ep, 0);
    }
    return endpoint;
  }

  /**
   * Looks the endpoint's name up (after `delayMs`): it leaves the rotation while the name does
   * not exist, and is looked up again every `dnsRefreshMs` until it does (Envoy's STRICT_DNS
   * refresh). A temporary resolver failure changes nothing.
   */
  private lookUp(ep: Endpoint, delayMs: number): void {
    if (ep.probing || ep.retired) return;
    ep.probing = true;
    const queue = (): void => {
      this.lookupQueue.push(ep);
      this.runLookups();
    };
    if (delayMs === 0) queue();
    else setTimeout(queue, delayMs).unref();
  }

  /** At most MAX_LOOKUPS lookups at a time, in the order they were asked for. */
  private runLookups(): void {
    while (this.lookupsRunning < MAX_LOOKUPS && this.lookupQueue.length > 0) {
      const ep = this.lookupQueue.shift()!;
      if (ep.retired || this.closed) {
        ep.probing = false;
        continue;
      }
      this.lookupsRunning++;
      dns.lookup(ep.host, (err) => {
        this.lookupsRunning--;
        ep.probing = false;
        if (!ep.retired && !this.closed) {
          if (err === null) ep.unresolved = false;
          else if (nameDoesNotResolve(err)) ep.unresolved = true;
          if (ep.unresolved) this.lookUp(ep, this.dnsRefreshMs);
        }
        this.runLookups();
      });
    }
  }
}

/**
 * The endpoint's key, also its origin: an IPv6 literal bracketed. A host that is not an address
 * gets a key no address can have, so `[::1]` (not an address: warned, never served) cannot take
 * the place of `::1`.
 */
function endpointKey(host: string, port: number): string {
  const kind = hostKind(host);
  if (kind === undefined) return `!${host}:${port}`;
  return kind === 'ip' && host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Sets the one `host` field of upstream request headers (upstreamRequestHeaders sends exactly one) to `host`. */
function setHost(headers: string[], host: string): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'host') {
      headers[i + 1] = host;
      return;
    }
  }
  headers.push('host', host);
}

/** Whether response headers declare `content-length: 0` (the body is empty by its framing). */
function zeroLength(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'content-length') return /^0+$/.test(headers[i + 1]!);
  return false;
}

/**
 * Envoy's decompressor filters on a request head: the codec of `codecs` the first token of its
 * content-encoding names (case-insensitive), unless its Cache-Control says no-transform. When
 * one does, the headers lose that token (the field, when it was the only one) and content-length.
 */
function decodingFor(codecs: readonly Codec[], headers: string[]): Codec | undefined {
  const encoding = joinedHeaderValue(headers, 'content-encoding');
  if (encoding === undefined) return undefined;
  const comma = encoding.indexOf(',');
  const first = (comma === -1 ? encoding : encoding.slice(0, comma)).trim().toLowerCase();
  const codec = codecs.find((c) => c === first);
  if (codec === undefined) return undefined;
  const cacheControl = joinedHeaderValue(headers, 'cache-control');
  if (cacheControl !== undefined && cacheControl.split(',').some((t) => t.trim().toLowerCase() === 'no-transform')) return undefined;
  const rest = comma === -1 ? '' : encoding.slice(comma + 1).trim();
  removeHeaders(headers, ['content-encoding', 'content-length']);
  if (rest !== '') headers.push('content-encoding', rest);
  return codec;
}
