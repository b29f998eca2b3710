// Builds a listener's RouteTable: routes grouped by host (exact map, wildcard list longest
// suffix first, any-host list), each list sorted the way kgateway sorts them
// (routeutils/sortable_route.go, Gateway API HTTPRouteRule precedence): Exact path (longer
// first) > RegularExpression (not ordered by length) > PathPrefix (longer first), then a
// method match, then more header matches, then more query matches; ties: oldest route, then
// `namespace/name`, then rule and match order.

import type { CompiledRoute, RouteTable } from '../config/snapshot.js';

export interface RouteEntry {
  readonly route: CompiledRoute;
  /** creationTimestamp in ms (Infinity when unknown). */
  readonly createdMs: number;
  /** `namespace/name` of the HTTPRoute. */
  readonly nsName: string;
  readonly ruleIndex: number;
  readonly matchIndex: number;
}

const PATH_RANK = { Exact: 0, RegularExpression: 1, PathPrefix: 2 } as const;

function compareRouteEntries(a: RouteEntry, b: RouteEntry): number {
  const ra = a.route;
  const rb = b.route;
  let d = PATH_RANK[ra.path.type] - PATH_RANK[rb.path.type];
  if (d !== 0) return d;
  // kgateway: "Don't prioritize one regex over another based on their lengths".
  if (ra.path.type !== 'RegularExpression') {
    d = rb.path.value.length - ra.path.value.length;
    if (d !== 0) return d;
  }
  d = (rb.method !== undefined ? 1 : 0) - (ra.method !== undefined ? 1 : 0);
  if (d !== 0) return d;
  d = rb.headers.length - ra.headers.length;
  if (d !== 0) return d;
  d = rb.queryParams.length - ra.queryParams.length;
  if (d !== 0) return d;
  if (a.createdMs !== b.createdMs) return a.createdMs < b.createdMs ? -1 : 1;
  if (a.nsName !== b.nsName) return a.nsName < b.nsName ? -1 : 1;
  d = a.ruleIndex - b.ruleIndex;
  if (d !== 0) return d;
  return a.matchIndex - b.matchIndex;
}

function sortRoutes(entries: readonly RouteEntry[]): CompiledRoute[] {
  return [...entries].sort(compareRouteEntries).map((e) => e.route);
}

/**
 * `byHost` keys are exact hosts or `*.suffix` patterns; `any` holds routes for any host.
 * Each host gets only its own routes (Envoy picks one virtual host per request; no fallthrough).
 */
export function buildRouteTable(byHost: ReadonlyMap<string, readonly RouteEntry[]>, any: readonly RouteEntry[]): RouteTable {
  const exact = new Map<string, readonly CompiledRoute[]>();
  const wildcard: { suffix: string; routes: readonly CompiledRoute[] }[] = [];
  for (const [host, entries] of byHost) {
    if (host.startsWith('*.')) wildcard.push({ suffix: host.slice(1), routes: sortRoutes(entries) });
    else exact.set(host, sortRoutes(entries));
  }
  wildcard.sort((a, b) => b.suffix.length - a.suffix.length || (a.suffix < b.suffix ? -1 : a.suffix > b.suffix ? 1 : 0));
  return { exact, wildcard, any: sortRoutes(any) };
}
