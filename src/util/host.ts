// What a Backend host is, decided once for `check` and for the forwarder: an IP literal, a DNS
// name to resolve, or neither (it never has an address: kgateway hands any non-IP host to Envoy
// as a DNS name, and one that cannot be a name never resolves).

import { isIP } from 'node:net';

/** A DNS name (labels of letters, digits, '-' and '_', dot-separated, an optional final dot). */
export const DNS_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** A last label a URL parser or resolver reads as (part of) an IPv4 number: `1.2.3`, `0x7f000001`, `999.1.1.1`. */
const NUMERIC_LABEL = /(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)\.?$/i;

/**
 * `host` for a message or /config_dump: anything up to its last `@` (a user name and password
 * written into a host, `user:secret@example.com`, which never has an address either) replaced by
 * `redacted`, as remote JWKS URLs are shown (redactUrlText). A check report, `--output json` and
 * the serve log printed the password.
 */
export function redactUserinfo(host: string): string {
  const at = host.lastIndexOf('@');
  return at < 0 ? host : `redacted${host.slice(at)}`;
}

export function hostKind(host: string): 'ip' | 'name' | undefined {
  if (isIP(host) !== 0) return host.includes('%') ? undefined : 'ip';
  if (!DNS_NAME.test(host) || NUMERIC_LABEL.test(host)) return undefined;
  return 'name';
}
