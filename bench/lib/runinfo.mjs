// What kind of run this is, and whether it may refresh bench/results/latest.* (which the READMEs
// embed as "the latest full run"): only a full run with every default may, unless BENCH_LATEST=1
// forces it. A run with any setting that changes what is measured or how is "custom", and its
// report lists those settings.

/**
 * Variables that change what is measured or how (any non-empty value is an override). The others
 * (BENCH_OUT, BENCH_LATEST, BENCH_NO_LATEST, BENCH_KEEP_TMP, BENCH_NO_BUILD, BENCH_NO_INSTALL, and
 * BENCH_LOAD_CONFIG, internal) only say where results go or what setup may do.
 */
export const MEASUREMENT_VARS = [
  'BENCH_PEERS',
  'BENCH_SCENARIOS',
  'BENCH_DURATION',
  'BENCH_OPEN_DURATION',
  'BENCH_WARMUP',
  'BENCH_CONNECTIONS',
  'BENCH_LOAD_PROCS',
  'BENCH_TOKENS',
  'BENCH_RATES',
  'BENCH_FIXED_TOKENS',
  'BENCH_ORDER',
  'BENCH_CPUS',
  'BENCH_CPUS_PEER',
  'BENCH_CPUS_UPSTREAM',
  'BENCH_CPUS_LOAD',
  'BENCH_UPSTREAM_PROCS',
  'BENCH_JWTGATE_MODES',
  'BENCH_JWTGATE_ARGS',
  'BENCH_JWTGATE_NODE_ARGS',
  'BENCH_JWTGATE_ROOT',
  'BENCH_NGINX_WORKERS',
  'BENCH_HAPROXY_THREADS',
  'BENCH_NICE',
  'BENCH_QUIET_WAIT',
  'BENCH_QUIET_BUDGET',
  'BENCH_RETRY_DISTURBED',
  'BENCH_OPEN_TRACE',
];

/** The measurement settings this environment overrides: { VAR: value }. */
export function overrides(env) {
  const out = {};
  for (const k of MEASUREMENT_VARS) if (env[k] !== undefined && env[k] !== '') out[k] = env[k];
  return out;
}

/** The run's label in report titles: full, quick or smoke, with ", custom" (or just "custom" for a full run) when settings were overridden. */
export function runLabel(mode, over) {
  if (!over || Object.keys(over).length === 0) return mode;
  return mode === 'full' ? 'custom' : `${mode}, custom`;
}

/**
 * Whether this run refreshes latest.*: a full run with no override, written to bench/results
 * (no BENCH_OUT); BENCH_LATEST=1 forces it (any run, into its output directory), BENCH_NO_LATEST=1
 * prevents it (and wins).
 */
export function refreshesLatest(mode, env) {
  if (env.BENCH_NO_LATEST === '1') return false;
  if (env.BENCH_LATEST === '1') return true;
  return mode === 'full' && !env.BENCH_OUT && Object.keys(overrides(env)).length === 0;
}
