// Gateway API's RequestRedirect HTTPRoute filter, as kgateway configures Envoy's route `redirect`
// action (krtcollections builtin.go convertRequestRedirect) and Envoy builds the answer
// (Http::Utility::newUri, RouteEntryImplBase prefix rewrite): the router answers it after every
// filter (JWT, rbac), with an empty body and the `location` below.

import { regexRewritePath, type PathRegexRewrite } from './path-regex-rewrite.js';

export interface RouteRedirect {
  /** 301, 302 (the default), 303, 307 or 308. */
  readonly status: number;
  /** `scheme`: Envoy's https_redirect / scheme_redirect. */
  readonly scheme?: string;
  /** `hostname`: host_redirect (the request's port is then dropped). */
  readonly host?: string;
  /** `port`: port_redirect. */
  readonly port?: number;
  /** `path.replaceFullPath`: path_redirect (the request's query is kept, unless this has one). */
  readonly fullPath?: string;
  /**
   * `path.replacePrefixMatch`: prefix_rewrite of the matched PathPrefix `matched` (its length is
   * what Envoy cuts, as kgateway emits the prefix: `/` included). Empty: no rewrite, as in Envoy.
   */
  readonly prefix?: { readonly matched: string; readonly rewrite: string };
}

/**
 * The `location` for `req` (its path after normalization and the JWT stage, its query, the Host
 * as sent, the listener's scheme, which is also its x-forwarded-proto), as Envoy's newUri builds it.
 */
export function redirectLocation(r: RouteRedirect, req: { readonly scheme: string; readonly authority: string; readonly path: string; readonly query: string }): string {
  const scheme = r.scheme ?? req.scheme;
  const port = r.port !== undefined ? `:${r.port}` : '';
  const host = r.host ?? requestHost(req.authority, scheme, req.scheme, port !== '');
  let path: string;
  // An empty path_redirect is unset to Envoy (kgateway writes it as given): the request's path stays.
  if (r.fullPath !== undefined && r.fullPath !== '') {
    path = r.fullPath.includes('?') || req.query === '' ? r.fullPath : `${r.fullPath}?${req.query}`;
  } else {
    path = req.query === '' ? req.path : `${req.path}?${req.query}`;
    if (r.prefix !== undefined && r.prefix.rewrite !== '' && req.path.startsWith(r.prefix.matched)) path = r.prefix.rewrite + path.slice(r.prefix.matched.length);
  }
  if (!path.startsWith('/')) path = `/${path}`;
  return `${scheme}://${host}${port}${path}`;
}

/**
 * Envoy's processRequestHost: the request's Host with its port, but without it when a new port
 * is set, or when the scheme changes and the port is the old scheme's default (`:80` of http).
 */
function requestHost(authority: string, scheme: string, fromScheme: string, newPort: boolean): string {
  let end: number;
  if (authority.startsWith('[')) {
    // An IPv6 literal: its port follows `]:`.
    const i = authority.lastIndexOf(']:');
    end = i === -1 ? -1 : i + 1;
  } else end = authority.lastIndexOf(':');
  if (end === -1) return authority;
  if (newPort) return authority.slice(0, end);
  if (scheme !== fromScheme) {
    const p = authority.slice(end);
    if ((p === ':80' && fromScheme === 'http') || (p === ':443' && fromScheme === 'https')) return authority.slice(0, end);
  }
  return authority;
}

/**
 * Gateway API's URLRewrite HTTPRoute filter as kgateway configures the Envoy route action
 * (krtcollections builtin.go): `hostname` is host_rewrite_literal (the upstream's Host; no
 * x-forwarded-host, kgateway leaves append_x_forwarded_host off), `ReplaceFullPath` a regex_rewrite
 * of `.*` (the path replaced, the query kept), `ReplacePrefixMatch` a prefix_rewrite of the matched
 * prefix, or for `/` the regex_rewrite `^<prefix>\/*` → `/` (the prefix and the slashes after it
 * become one `/`). An empty value rewrites nothing, as kgateway emits none.
 */
export interface RouteRewrite {
  readonly host?: string;
  readonly fullPath?: string;
  readonly prefix?: { readonly matched: string; readonly rewrite: string };
  /**
   * A TrafficPolicy's `urlRewrite.pathRegex` (Envoy's regex_rewrite), only when the filter rewrites
   * no path: kgateway applies the rule's filter first and then skips the policy's regex.
   */
  readonly regex?: PathRegexRewrite;
  /** Where `regex` comes from (`TrafficPolicy/ns/name@Level`). */
  readonly regexOrigin?: string;
}

/** The path `r` makes of `path` (without the query), or undefined when it rewrites no path. */
export function rewrittenPath(r: RouteRewrite, path: string): string | undefined {
  // Envoy's regex_rewrite yields a path (the same one when nothing matches), and the router then
  // sets x-envoy-original-path as for any rewrite; an empty one is no rewrite at all
  // (rewritePathByPrefixOrRegex: "If regex rewrite fails then return nothing"): the path goes as
  // it is, without x-envoy-original-path.
  if (r.regex !== undefined) {
    const rewritten = regexRewritePath(r.regex, path);
    return rewritten === '' ? undefined : rewritten;
  }
  if (r.fullPath !== undefined && r.fullPath !== '') return r.fullPath;
  const p = r.prefix;
  if (p === undefined || p.rewrite === '' || !path.startsWith(p.matched)) return undefined;
  if (p.rewrite === '/' && p.matched !== '') {
    let i = p.matched.length;
    while (path.charCodeAt(i) === 0x2f /* / */) i++;
    return `/${path.slice(i)}`;
  }
  return p.rewrite + path.slice(p.matched.length);
}
