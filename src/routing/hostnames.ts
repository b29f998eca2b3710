// Gateway API hostname rules: a `*.example.com` wildcard matches one or more labels in front of
// `.example.com` (not `example.com` itself), and a route's hostnames are intersected with its
// listener's hostname to get the hosts the route actually serves there.

/** Does `host` (exact, lowercase) match `pattern` (exact or `*.suffix`)? */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(1);
    return host.length > suffix.length && host.endsWith(suffix);
  }
  return pattern === host;
}

/**
 * Hosts a route serves on a listener: `'any'` when neither has hostnames, otherwise the
 * intersection (the more specific of each matching pair; duplicates removed), `[]` when none.
 */
export function intersectHostnames(listenerHost: string | undefined, routeHosts: readonly string[]): 'any' | string[] {
  if (routeHosts.length === 0) return listenerHost === undefined ? 'any' : [listenerHost];
  const out: string[] = [];
  const add = (h: string): void => {
    if (!out.includes(h)) out.push(h);
  };
  for (const r of routeHosts) {
    if (listenerHost === undefined || r === listenerHost) add(r);
    else if (listenerHost.startsWith('*.') && r.startsWith('*.')) {
      if (hostMatches(listenerHost, r.slice(2)) || r === listenerHost) add(r);
      else if (hostMatches(r, listenerHost.slice(2))) add(listenerHost);
    } else if (listenerHost.startsWith('*.')) {
      if (hostMatches(listenerHost, r)) add(r);
    } else if (r.startsWith('*.')) {
      if (hostMatches(r, listenerHost)) add(listenerHost);
    }
  }
  return out;
}

/** Listener order on a port: exact hostnames, then wildcards (longest first), then no hostname. */
export function hostnameSpecificity(h: string | undefined): [number, number] {
  if (h === undefined) return [2, 0];
  if (h.startsWith('*.')) return [1, -h.length];
  return [0, -h.length];
}
