// Every metric name in one list, with cheap counters for the hot path (a Map lookup and an add).
// Rendered in Prometheus text format by the admin server. Denial codes from src/errors.ts are
// the `result` label values of jwtgate_requests_total.
import { ERRORS, type ErrorCode } from '../errors.js';
import { JWKS_FETCH_OUTCOMES } from '../types.js';
import { logLinesDropped } from './log.js';
import { RETRY_EVENTS } from '../proxy/retry.js';
import { MIRROR_RESULTS } from '../proxy/mirror.js';

/** The codes a proxied exchange can end with (besides a status class). */
const PROXY_CODES: readonly ErrorCode[] = ['UPSTREAM_UNAVAILABLE', 'UPSTREAM_OVERFLOW', 'UPSTREAM_TIMEOUT', 'STREAM_IDLE_TIMEOUT', 'UPSTREAM_BAD_RESPONSE', 'RETRY_BUFFER_EXCEEDED', 'REQUEST_INVALID', 'REQUEST_BODY_TOO_LARGE', 'CLIENT_CLOSED', 'DRAIN_CLOSED', 'INTERNAL'];

/**
 * `seed`: the label values every scrape shows from the start, at 0, so that a series' first
 * increment is an increase to Prometheus (`increase()`/`rate()` see nothing in a series that
 * appears at 1), as Envoy declares its stats at 0. Other values appear when first counted.
 */
export const METRICS = {
  jwtgate_requests_total: { type: 'counter', label: 'result', help: 'Requests by outcome: OK, REDIRECT (a RequestRedirect rule answered), DIRECT_RESPONSE (a DirectResponse rule answered), CORS_PREFLIGHT (a CORS preflight answered) or an error code from the catalogue', seed: ['OK', 'REDIRECT', 'DIRECT_RESPONSE', 'CORS_PREFLIGHT', ...(Object.keys(ERRORS) as ErrorCode[])] },
  jwtgate_jwt_verifications_total: { type: 'counter', label: 'mode', help: 'Signature checks performed, by where they ran (pool|inline)', seed: ['pool', 'inline'] },
  jwtgate_verify_pool_tasks_total: { type: 'counter', label: 'result', help: 'Tasks sent to the verify worker pool (ok|failed: a worker died with it, its checks done on the main thread|timeout: given up, answered overloaded, when the pool made no progress for 5 s); pool verifications / tasks = items per task', seed: ['ok', 'failed', 'timeout'] },
  jwtgate_result_cache_total: { type: 'counter', label: 'outcome', help: 'Signature-result cache lookups (hit|miss|shared)', seed: ['hit', 'miss', 'shared'] },
  jwtgate_upstream_responses_total: { type: 'counter', label: 'class', help: 'Forwarded requests by upstream status class (2xx..5xx, other for 600-999; 1xx answers are not forwarded) or by the proxy error code that ended them, including refusals before sending (UPSTREAM_OVERFLOW, REQUEST_INVALID)', seed: ['2xx', '3xx', '4xx', '5xx', 'other', ...PROXY_CODES] },
  jwtgate_upstream_retries_total: { type: 'counter', label: 'event', help: "Retry decisions of routes with a retry policy, as Envoy's cluster stats name them: retry (an attempt retried), limit_exceeded (no retry left), overflow (3 retries already in progress on the backend), abandoned (the request body outgrew the 1 MiB kept for retries)", seed: RETRY_EVENTS },
  jwtgate_upstream_mirrors_total: { type: 'counter', label: 'result', help: 'Mirrored copies of requests (HTTPRoute RequestMirror), by how they ended: sent (the mirror answered, any status), failed (no answer), overflow (not sent: the mirror endpoint had --upstream-max-pending requests waiting, or no address), abandoned (cut: the body outgrew the 1 MiB buffered for a mirror, or the request ended before its body)', seed: MIRROR_RESULTS },
  jwtgate_jwks_fetch_total: { type: 'counter', label: 'outcome', help: 'Remote JWKS fetches by outcome', seed: JWKS_FETCH_OUTCOMES },
  jwtgate_ext_authz_total: { type: 'counter', label: 'result', help: 'TrafficPolicy extAuth checks by result: ok (the server answered 200), denied (another status below 500, passed to the client), error (a 5xx, a timeout, no connection: statusOnError), failed_open (an error let through by failOpen), skipped (not drawn by percentageEnabled)', seed: ['ok', 'denied', 'error', 'failed_open', 'skipped'] },
  jwtgate_config_reloads_total: { type: 'counter', label: 'result', help: 'Configuration reloads (SIGHUP) by result: ok (applied) or failed (the running configuration kept)', seed: ['ok', 'failed'] },
} as const;

export type MetricName = keyof typeof METRICS;

export class Metrics {
  private readonly values = new Map<MetricName, Map<string, number>>();

  constructor() {
    for (const name of Object.keys(METRICS) as MetricName[]) this.values.set(name, new Map(METRICS[name].seed.map((l) => [l, 0])));
  }

  inc(name: MetricName, label: string, by = 1): void {
    const m = this.values.get(name)!;
    m.set(label, (m.get(label) ?? 0) + by);
  }

  get(name: MetricName, label: string): number {
    return this.values.get(name)!.get(label) ?? 0;
  }

  render(): string {
    let out = '';
    for (const [name, spec] of Object.entries(METRICS) as [MetricName, (typeof METRICS)[MetricName]][]) {
      out += `# HELP ${name} ${spec.help}\n# TYPE ${name} ${spec.type}\n`;
      for (const [label, v] of this.values.get(name)!) out += `${name}{${spec.label}="${label}"} ${v}\n`;
    }
    out += this.requestDuration.render('jwtgate_request_duration_seconds', REQUEST_DURATION_HELP);
    return `${out}# HELP jwtgate_log_lines_dropped_total Log lines not written because stderr failed (its reader went away) or its reader fell 8 MiB behind\n# TYPE jwtgate_log_lines_dropped_total counter\njwtgate_log_lines_dropped_total ${logLinesDropped()}\n`;
  }

  /** Every request counted in jwtgate_requests_total, by the time it took (see REQUEST_DURATION_HELP). */
  readonly requestDuration = new DurationHistogram();
}

const REQUEST_DURATION_HELP =
  'Time from a request head to its answer, for every request in jwtgate_requests_total: to the end of the response written to the connection, the failure that ended a proxied exchange, or the client leaving';

/** Upper bounds of the duration buckets, in ms: Envoy's default histogram buckets. */
export const DURATION_BUCKETS_MS: readonly number[] = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

/** A Prometheus histogram of durations given in ms, rendered in seconds. */
export class DurationHistogram {
  /** Per bucket (not cumulative); the last is +Inf. */
  private readonly counts = new Float64Array(DURATION_BUCKETS_MS.length + 1);
  private sumMs = 0;

  observe(ms: number): void {
    // Most requests land in the first buckets: a scan from the low end is the cheapest search.
    let i = 0;
    while (i < DURATION_BUCKETS_MS.length && ms > DURATION_BUCKETS_MS[i]!) i++;
    this.counts[i]!++;
    this.sumMs += ms;
  }

  /** Requests observed with a duration of at most `ms` (a bucket bound) — for tests and tools. */
  countAtMost(ms: number): number {
    let n = 0;
    for (let i = 0; i < DURATION_BUCKETS_MS.length && DURATION_BUCKETS_MS[i]! <= ms; i++) n += this.counts[i]!;
    return n;
  }

  get count(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }

  render(name: string, help: string): string {
    let out = `# HELP ${name} ${help}\n# TYPE ${name} histogram\n`;
    let cumulative = 0;
    for (let i = 0; i < DURATION_BUCKETS_MS.length; i++) {
      cumulative += this.counts[i]!;
      out += `${name}_bucket{le="${DURATION_BUCKETS_MS[i]! / 1000}"} ${cumulative}\n`;
    }
    cumulative += this.counts[DURATION_BUCKETS_MS.length]!;
    out += `${name}_bucket{le="+Inf"} ${cumulative}\n${name}_sum ${this.sumMs / 1000}\n${name}_count ${cumulative}\n`;
    return out;
  }
}

/** A remote key set as /metrics reports it (label `provider`: the key set id). */
export interface KeySetMetrics {
  readonly id: string;
  /** Keys in use (0 before a first good fetch). */
  readonly keys: number;
  readonly lastSuccessMs: number | undefined;
  /** Fetches by outcome. */
  readonly fetches: Readonly<Record<string, number | undefined>>;
}

const labelValue = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * Per remote key set: keys in use, time of the last good fetch, fetches by outcome. The label
 * values are bounded by the configuration.
 */
export function renderKeySetMetrics(sets: readonly KeySetMetrics[]): string {
  let keys = '';
  let success = '';
  let fetches = '';
  for (const set of sets) {
    const p = `provider="${labelValue(set.id)}"`;
    keys += `jwtgate_jwks_keys{${p}} ${set.keys}\n`;
    if (set.lastSuccessMs !== undefined) success += `jwtgate_jwks_last_success_timestamp_seconds{${p}} ${(set.lastSuccessMs / 1000).toFixed(3)}\n`;
    for (const outcome of JWKS_FETCH_OUTCOMES) fetches += `jwtgate_jwks_provider_fetches_total{${p},outcome="${outcome}"} ${set.fetches[outcome] ?? 0}\n`;
  }
  return (
    `# HELP jwtgate_jwks_keys Keys in use for each remote key set (0 before its first good fetch)\n# TYPE jwtgate_jwks_keys gauge\n${keys}` +
    `# HELP jwtgate_jwks_last_success_timestamp_seconds Time of each remote key set's last good fetch\n# TYPE jwtgate_jwks_last_success_timestamp_seconds gauge\n${success}` +
    `# HELP jwtgate_jwks_provider_fetches_total Remote JWKS fetches by key set and outcome\n# TYPE jwtgate_jwks_provider_fetches_total counter\n${fetches}`
  );
}

/** The refresher thread's restarts: shown with or without remote key sets (an alert finds 0, not nothing). */
/** The generation of the configuration served (1 at start, one more for each reload applied). */
export function renderConfigGeneration(generation: number): string {
  return `# HELP jwtgate_config_generation Generation of the configuration served: 1 at start, one more for each reload applied\n# TYPE jwtgate_config_generation gauge\njwtgate_config_generation ${generation}\n`;
}

export function renderRefresherRestarts(refresherRestarts: number): string {
  return `# HELP jwtgate_jwks_refresher_restarts_total Times the JWKS refresher thread died and was restarted\n# TYPE jwtgate_jwks_refresher_restarts_total counter\njwtgate_jwks_refresher_restarts_total ${refresherRestarts}\n`;
}
