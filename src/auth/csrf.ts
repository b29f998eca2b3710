// Cross-site request forgery checks: kgateway's TrafficPolicy `csrf`, checked as Envoy's csrf
// filter checks it (csrf_filter.cc). Only POST, PUT, DELETE and PATCH are checked. The source
// origin is the host[:port] of the Origin header (or, when it is absent or empty, of the
// Referer): the authority of an absolute URL, or the header's value as it is when it is not one
// (`null`, `a.com`). It must be the request's Host as sent, byte for byte (the scheme plays no
// part, a port must be written alike), or match one of `additionalOrigins`. Otherwise Envoy's
// `403 Invalid origin`. The filter is on for `percentageEnabled` percent of requests (kgateway
// writes 0% when it is unset); shadow mode denies nothing.

import type { Matcher } from '../routing/regex.js';
import { inlineHeaderValue, type GatewayRequest } from '../http/exchange.js';

/** One of `additionalOrigins`: Envoy's StringMatcher, matched against the source's host[:port]. */
export interface OriginMatcher {
  readonly kind: 'exact' | 'prefix' | 'suffix' | 'contains' | 'safeRegex';
  /** The value as written; lowercased when `ignoreCase` (not for safeRegex). */
  readonly value: string;
  readonly ignoreCase: boolean;
  /** safeRegex: the compiled RE2 pattern (a full match). */
  readonly regex?: Matcher;
}

/** A `csrf` as kgateway hands it to Envoy. */
export interface CsrfSpec {
  /** `percentageEnabled` (0 when unset: kgateway's filter_enabled default). */
  readonly enabledPercent: number;
  /** `percentageShadowed`, when set: checked and not enforced (Envoy counts it in its stats). */
  readonly shadowPercent?: number;
  readonly additionalOrigins: readonly OriginMatcher[];
}

/** The `csrf` a route enforces, and where it comes from (`TrafficPolicy/ns/name@Level`). */
export interface CsrfPolicy extends CsrfSpec {
  readonly origin: string;
}

/**
 * The authority of an absolute URL (`scheme://[userinfo@]host[:port]…` → `host[:port]` as
 * written), as Envoy's Url::initialize (http_parser) and hostAndPort read an Origin or Referer:
 * a scheme of letters, host characters (letters, digits, `.`, `-`, `_`, `~`) or a bracketed IPv6
 * literal, a port of 1-5 digits up to 65535. Anything else is returned as it is (Envoy uses the
 * raw value when the URL does not parse): `null`, `a.com`, `http://a.com:` never equal a Host.
 */
const ABSOLUTE_URL = /^[A-Za-z]+:\/\/(?:[^@/?#]*@)?(\[[0-9A-Fa-f:.]+(?:%[^\]/?#]+)?\]|[A-Za-z0-9._~-]+)(?::(\d{1,5}))?(?:[/?#].*)?$/s;

export function hostAndPort(value: string): string {
  if (value === '') return '';
  const m = ABSOLUTE_URL.exec(value);
  if (m === null || (m[2] !== undefined && Number(m[2]) > 65535)) return value;
  return m[2] !== undefined ? `${m[1]}:${m[2]}` : m[1]!;
}

/** ASCII-only lowercase, as Envoy's StringMatcher ignore_case (absl::AsciiStrToLower). */
export function asciiLower(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (c) => c.toLowerCase()) : s;
}

function matches(m: OriginMatcher, source: string): boolean {
  if (m.kind === 'safeRegex') return m.regex!.test(source);
  const s = m.ignoreCase ? asciiLower(source) : source;
  switch (m.kind) {
    case 'exact':
      return s === m.value;
    case 'prefix':
      return s.startsWith(m.value);
    case 'suffix':
      return s.endsWith(m.value);
    default:
      return s.includes(m.value);
  }
}

/** Envoy's runtime featureEnabled for a default percentage, with no runtime layer: 100 always, 0 never, else a draw. */
function drawn(percent: number): boolean {
  return percent >= 100 || (percent > 0 && Math.random() * 100 < percent);
}

/** True when `req` must get Envoy's `403 Invalid origin`. */
export function csrfDenies(policy: CsrfSpec, req: GatewayRequest): boolean {
  const m = req.method;
  if (m !== 'POST' && m !== 'PUT' && m !== 'DELETE' && m !== 'PATCH') return false;
  // Shadow mode (or a draw that leaves the filter off): nothing is denied.
  if (!drawn(policy.enabledPercent)) return false;
  // Both are inline headers in Envoy (the csrf filter registers them): repeated fields joined with `,`.
  let source = hostAndPort(inlineHeaderValue(req.headers, 'origin'));
  if (source === '') source = hostAndPort(inlineHeaderValue(req.headers, 'referer'));
  if (source === '') return true;
  if (source === hostAndPort(`http://${req.authority}`)) return false;
  for (const o of policy.additionalOrigins) if (matches(o, source)) return false;
  return true;
}
