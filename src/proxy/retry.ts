// A route's retry policy (HTTPRoute rule `retry`, TrafficPolicy `retry`) as kgateway writes Envoy's
// route RetryPolicy, and the decisions Envoy's router makes with it (retry_state_impl.cc): which
// upstream answers and failures are retried, and the jittered exponential backoff between
// attempts. The forwarder (forwarder.ts) runs the attempts; this module only decides.

/** Envoy `retry_on` conditions, as kgateway's RetryOnCondition enum names them. */
export const RETRY_ON = [
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'envoy-ratelimited',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
] as const;

export type RetryOn = (typeof RETRY_ON)[number] | 'retriable-headers';

/** The Envoy route RetryPolicy kgateway builds (policy.BuildRetryPolicy). */
export interface RetrySpec {
  /** `retry_on`, sorted and without repeats, as kgateway joins it. */
  readonly retryOn: readonly RetryOn[];
  /** `num_retries`: retries after the first attempt (0 = none). */
  readonly numRetries: number;
  /** `retriable_status_codes`. */
  readonly statusCodes: readonly number[];
  /** `per_try_timeout` in ms; undefined: none (only the route timeout). */
  readonly perTryTimeoutMs?: number;
  /** `retry_back_off.base_interval` in ms (Envoy's default 25). */
  readonly backoffBaseMs: number;
}

/** A route's retry policy, ready for the request path. */
export interface RouteRetry extends RetrySpec {
  /** `retry_back_off.max_interval`: kgateway sets none, so Envoy's 10 × base. */
  readonly backoffMaxMs: number;
  /** Where it comes from: `HTTPRoute retry` or `TrafficPolicy/ns/name@Level`. */
  readonly origin: string;
  /** The conditions as bits (see F_*). */
  readonly flags: number;
}

const F_5XX = 1;
const F_GATEWAY_ERROR = 2;
const F_RESET = 4;
const F_RESET_BEFORE_REQUEST = 8;
const F_CONNECT_FAILURE = 16;
const F_ENVOY_RATELIMITED = 32;
const F_RETRIABLE_4XX = 64;
const F_STATUS_CODES = 128;
const F_GRPC_CANCELLED = 256;
const F_GRPC_DEADLINE_EXCEEDED = 512;
const F_GRPC_INTERNAL = 1024;
const F_GRPC_RESOURCE_EXHAUSTED = 2048;
const F_GRPC_UNAVAILABLE = 4096;

const FLAG: Readonly<Record<RetryOn, number>> = {
  '5xx': F_5XX,
  'gateway-error': F_GATEWAY_ERROR,
  reset: F_RESET,
  'reset-before-request': F_RESET_BEFORE_REQUEST,
  'connect-failure': F_CONNECT_FAILURE,
  'envoy-ratelimited': F_ENVOY_RATELIMITED,
  'retriable-4xx': F_RETRIABLE_4XX,
  'retriable-status-codes': F_STATUS_CODES,
  cancelled: F_GRPC_CANCELLED,
  'deadline-exceeded': F_GRPC_DEADLINE_EXCEEDED,
  internal: F_GRPC_INTERNAL,
  'resource-exhausted': F_GRPC_RESOURCE_EXHAUSTED,
  unavailable: F_GRPC_UNAVAILABLE,
  // HTTP/2 and HTTP/3 upstream conditions, and retriable-headers without header matchers (as
  // kgateway writes it): nothing an HTTP/1.1 upstream can trigger.
  'refused-stream': 0,
  'http3-post-connect-failure': 0,
  'retriable-headers': 0,
};

/** gRPC status codes of the gRPC conditions (`grpc-status` in the response head). */
const GRPC: readonly [number, number][] = [
  [1, F_GRPC_CANCELLED],
  [4, F_GRPC_DEADLINE_EXCEEDED],
  [8, F_GRPC_RESOURCE_EXHAUSTED],
  [13, F_GRPC_INTERNAL],
  [14, F_GRPC_UNAVAILABLE],
];
const F_GRPC = F_GRPC_CANCELLED | F_GRPC_DEADLINE_EXCEEDED | F_GRPC_INTERNAL | F_GRPC_RESOURCE_EXHAUSTED | F_GRPC_UNAVAILABLE;

/** `retry_on` as kgateway writes it: the conditions sorted, without repeats, joined with `,`. */
export function retryOnString(on: readonly RetryOn[]): string {
  return [...new Set(on)].sort().join(',');
}

export function compileRetry(spec: RetrySpec, origin: string): RouteRetry {
  let flags = 0;
  for (const c of spec.retryOn) flags |= FLAG[c];
  return { ...spec, retryOn: [...new Set(spec.retryOn)].sort(), backoffMaxMs: spec.backoffBaseMs * 10, origin, flags };
}

/** Envoy's `x-envoy-ratelimited` response header, lower case. */
const RATELIMITED = 'x-envoy-ratelimited';

/** The value of the first `name` field (lower case) in undici's raw response head, or undefined. */
function rawHeader(raw: readonly Buffer[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === name.length && n.toString('latin1').toLowerCase() === name) return raw[i + 1]!.toString('latin1');
  }
  return undefined;
}

/**
 * Whether an upstream answer with this status and head is retried (Envoy's wouldRetryFromHeaders):
 * an answer that carries `x-envoy-ratelimited` only under `envoy-ratelimited`; otherwise `5xx`
 * (any 5xx), `gateway-error` (502, 503, 504), `retriable-4xx` (409), `retriable-status-codes`
 * (the listed codes) and the gRPC conditions (`grpc-status` in the head).
 */
export function retriableAnswer(r: RouteRetry, status: number, raw: readonly Buffer[]): boolean {
  const f = r.flags;
  if (rawHeader(raw, RATELIMITED) !== undefined) return (f & F_ENVOY_RATELIMITED) !== 0;
  if ((f & F_5XX) !== 0 && status >= 500 && status <= 599) return true;
  if ((f & F_GATEWAY_ERROR) !== 0 && status >= 502 && status <= 504) return true;
  if ((f & F_RETRIABLE_4XX) !== 0 && status === 409) return true;
  if ((f & F_STATUS_CODES) !== 0 && r.statusCodes.includes(status)) return true;
  if ((f & F_GRPC) !== 0) {
    const g = rawHeader(raw, 'grpc-status');
    if (g !== undefined && /^\s*\d+\s*$/.test(g)) {
      const code = Number(g);
      for (const [c, bit] of GRPC) if (code === c && (f & bit) !== 0) return true;
    }
  }
  return false;
}

/**
 * How an attempt failed before its answer: `connect` (the connection could not be made, so no
 * byte of the request was sent), `reset` (closed, reset or not HTTP after the request was sent),
 * `per-try-timeout` (Envoy resets the attempt: a local reset).
 */
export type AttemptFailure = 'connect' | 'reset' | 'per-try-timeout';

/**
 * Whether a failed attempt is retried (Envoy's wouldRetryFromReset): `reset`, `5xx` and
 * `gateway-error` retry every reset, `connect-failure` and `reset-before-request` a connection
 * that could not be made.
 */
export function retriableFailure(r: RouteRetry, failure: AttemptFailure): boolean {
  const f = r.flags;
  if ((f & (F_RESET | F_5XX | F_GATEWAY_ERROR)) !== 0) return true;
  return failure === 'connect' && (f & (F_CONNECT_FAILURE | F_RESET_BEFORE_REQUEST)) !== 0;
}

/**
 * Envoy's JitteredExponentialBackOffStrategy: the n-th retry (0-based) waits a uniformly drawn
 * [0, I) ms, where I starts at the base interval and doubles while under half the max, then stays
 * at the max. `interval` is I for this retry; returns the wait and the next I.
 */
export function backoff(r: RouteRetry, interval: number, random: number): { readonly waitMs: number; readonly next: number } {
  const next = interval < r.backoffMaxMs / 2 ? interval * 2 : r.backoffMaxMs;
  return { waitMs: Math.floor(random * interval), next };
}

/** The bodies of retries kept for a replay: Envoy's default per-connection buffer limit (1 MiB). */
export const RETRY_BUFFER_BYTES = 1024 * 1024;

/**
 * Retries in progress per backend at once: Envoy's circuit breaker `max_retries` default. A retry
 * holds its place from when it is decided until the next decision on the request or its end.
 */
export const MAX_CONCURRENT_RETRIES = 3;

/** What happened to a retry decision, as Envoy's cluster stats name it (jwtgate_upstream_retries_total). */
export type RetryEvent = 'retry' | 'limit_exceeded' | 'overflow' | 'abandoned';
export const RETRY_EVENTS: readonly RetryEvent[] = ['retry', 'limit_exceeded', 'overflow', 'abandoned'];
