// Every metric name in one list, with cheap counters for the hot path (a Map lookup and an add).
// Rendered in Prometheus text format by the admin server. Denial codes from src/errors.ts are
// the `result` label values of jwtgate_requests_total.

export const METRICS = {
  jwtgate_requests_total: { type: 'counter', label: 'result', help: 'Requests by outcome: OK or an error code from the catalogue' },
  jwtgate_jwt_verifications_total: { type: 'counter', label: 'mode', help: 'Signature checks performed, by where they ran (pool|inline)' },
  jwtgate_verify_pool_tasks_total: { type: 'counter', label: 'result', help: 'Tasks sent to the verify worker pool (ok|failed); pool verifications / tasks = items per task' },
  jwtgate_result_cache_total: { type: 'counter', label: 'outcome', help: 'Signature-result cache lookups (hit|miss|shared)' },
  jwtgate_upstream_responses_total: { type: 'counter', label: 'class', help: 'Forwarded requests by upstream status class (2xx..5xx) or by the proxy error code that ended them, including refusals before sending (UPSTREAM_OVERFLOW, REQUEST_INVALID)' },
  jwtgate_jwks_fetch_total: { type: 'counter', label: 'outcome', help: 'Remote JWKS fetches by outcome' },
} as const;

export type MetricName = keyof typeof METRICS;

export class Metrics {
  private readonly values = new Map<MetricName, Map<string, number>>();

  constructor() {
    for (const name of Object.keys(METRICS) as MetricName[]) this.values.set(name, new Map());
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
    return out;
  }
}
