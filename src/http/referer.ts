// Envoy's check of a request's `Referer` (Http::Utility::isValidRefererValue, called from
// ConnectionManagerUtility::mutateRequestHeaders before a route is picked): a Referer that is
// repeated, or whose value is neither an absolute URL without fragment or userinfo nor a relative
// reference without fragment, is removed. The absolute form is what http_parser's URL parser
// (strict build, as Envoy compiles it) accepts with a host, plus Envoy's own rule that a bracketed
// host is an IPv6 address; the relative form is RFC 3986 query characters with no `:` in the
// first segment. Pure functions, no allocation on the common path.

import { isIPv6 } from 'node:net';

const enum Url {
  Start,
  Schema,
  SchemaSlash,
  SchemaSlashSlash,
  ServerStart,
  Server,
  ServerWithAt,
  Path,
  QueryStart,
  Query,
  FragmentStart,
  Fragment,
  Dead,
}

/** What Envoy asks of an absolute URL once it parses: whether it has a fragment, or userinfo. */
interface AbsoluteUrl {
  readonly fragment: boolean;
  readonly userinfo: boolean;
}

function isAlpha(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isAlphaNum(c: number): boolean {
  return isAlpha(c) || isDigit(c);
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

/** http_parser's URL characters, strict: printable ASCII but space, `#` and `?`. */
function isUrlChar(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x23 && c !== 0x3f;
}

/** http_parser's userinfo characters: unreserved, `%` and sub-delims but `*`, `:`. */
function isUserinfoChar(c: number): boolean {
  if (isAlphaNum(c)) return true;
  switch (c) {
    case 0x2d: case 0x5f: case 0x2e: case 0x21: case 0x7e: case 0x2a: case 0x27: case 0x28: case 0x29: // - _ . ! ~ * ' ( )
    case 0x25: case 0x3b: case 0x3a: case 0x26: case 0x3d: case 0x2b: case 0x24: case 0x2c: // % ; : & = + $ ,
      return true;
    default:
      return false;
  }
}

/** The state after `c` inside the authority of a URL. */
function afterServerChar(c: number): Url {
  if (c === 0x2f) return Url.Path;
  if (c === 0x3f) return Url.QueryStart;
  if (c === 0x40) return Url.ServerWithAt;
  return isUserinfoChar(c) || c === 0x5b || c === 0x5d ? Url.Server : Url.Dead;
}

function nextUrlState(s: Url, c: number): Url {
  if (c === 0x20 || c === 0x0d || c === 0x0a || c === 0x09 || c === 0x0c) return Url.Dead;
  switch (s) {
    case Url.Start:
      if (c === 0x2f || c === 0x2a) return Url.Path;
      if (isAlpha(c)) return Url.Schema;
      return Url.Dead;
    case Url.Schema:
      if (isAlpha(c)) return Url.Schema;
      return c === 0x3a ? Url.SchemaSlash : Url.Dead;
    case Url.SchemaSlash:
      return c === 0x2f ? Url.SchemaSlashSlash : Url.Dead;
    case Url.SchemaSlashSlash:
      return c === 0x2f ? Url.ServerStart : Url.Dead;
    case Url.ServerWithAt:
      // A second `@` in the authority is refused.
      return c === 0x40 ? Url.Dead : afterServerChar(c);
    case Url.ServerStart:
    case Url.Server:
      return afterServerChar(c);
    case Url.Path:
      if (isUrlChar(c)) return Url.Path;
      if (c === 0x3f) return Url.QueryStart;
      return c === 0x23 ? Url.FragmentStart : Url.Dead;
    case Url.QueryStart:
    case Url.Query:
      if (isUrlChar(c) || c === 0x3f) return Url.Query;
      return c === 0x23 ? Url.FragmentStart : Url.Dead;
    case Url.FragmentStart:
      if (isUrlChar(c) || c === 0x3f) return Url.Fragment;
      return c === 0x23 ? Url.FragmentStart : Url.Dead;
    case Url.Fragment:
      return isUrlChar(c) || c === 0x3f || c === 0x23 ? Url.Fragment : Url.Dead;
    default:
      return Url.Dead;
  }
}

/**
 * `value` read as an absolute URL the way Envoy's Utility::Url::initialize reads it (not a
 * CONNECT target): scheme `://` authority, then path, query and fragment; a host is required.
 * Undefined when it is not one.
 */
function parseAbsolute(value: string): AbsoluteUrl | undefined {
  if (value.length === 0) return undefined;
  let s = Url.Start;
  let schema = false;
  let hostStart = -1;
  let hostEnd = -1;
  let fragment = false;
  let foundAt = false;
  for (let i = 0; i < value.length; i++) {
    s = nextUrlState(s, value.charCodeAt(i));
    switch (s) {
      case Url.Dead:
        return undefined;
      case Url.Schema:
        schema = true;
        break;
      case Url.ServerWithAt:
      case Url.Server:
        if (s === Url.ServerWithAt) foundAt = true;
        if (hostStart === -1) hostStart = i;
        hostEnd = i + 1;
        break;
      case Url.Fragment:
        fragment = true;
        break;
      default:
        break;
    }
  }
  // A scheme needs a host (`http:///x` fails), and Envoy wants one or the other; a URL that
  // starts with `/` or `*` has neither, so a host is what both rules come down to.
  if (!schema || hostStart === -1) return undefined;
  const userinfo = parseHost(value, hostStart, hostEnd, foundAt);
  if (userinfo === undefined) return undefined;
  return { fragment, userinfo };
}

const enum Host {
  UserinfoStart,
  Userinfo,
  HostStart,
  Host,
  V6Start,
  V6,
  V6End,
  V6ZoneStart,
  V6Zone,
  PortStart,
  Port,
  Dead,
}

/** An IPv6 zone id (RFC 6874): unreserved or pct-encoded. */
function isZoneChar(c: number): boolean {
  return isAlphaNum(c) || c === 0x25 || c === 0x2e || c === 0x2d || c === 0x5f || c === 0x7e;
}

function nextHostState(s: Host, c: number): Host {
  switch (s) {
    case Host.Userinfo:
    case Host.UserinfoStart:
      if (c === 0x40) return Host.HostStart;
      return isUserinfoChar(c) ? Host.Userinfo : Host.Dead;
    case Host.HostStart:
      if (c === 0x5b) return Host.V6Start;
      return isAlphaNum(c) || c === 0x2e || c === 0x2d ? Host.Host : Host.Dead;
    case Host.Host:
      if (isAlphaNum(c) || c === 0x2e || c === 0x2d) return Host.Host;
      return c === 0x3a ? Host.PortStart : Host.Dead;
    case Host.V6End:
      return c === 0x3a ? Host.PortStart : Host.Dead;
    case Host.V6:
      if (c === 0x5d) return Host.V6End;
      if (isHex(c) || c === 0x3a || c === 0x2e) return Host.V6;
      return c === 0x25 ? Host.V6ZoneStart : Host.Dead;
    case Host.V6Start:
      return isHex(c) || c === 0x3a || c === 0x2e ? Host.V6 : Host.Dead;
    case Host.V6Zone:
      if (c === 0x5d) return Host.V6End;
      return isZoneChar(c) ? Host.V6Zone : Host.Dead;
    case Host.V6ZoneStart:
      return isZoneChar(c) ? Host.V6Zone : Host.Dead;
    case Host.Port:
    case Host.PortStart:
      return isDigit(c) ? Host.Port : Host.Dead;
    default:
      return Host.Dead;
  }
}

/**
 * The authority `value[from, to)` as http_parser splits it (userinfo `@` host `:` port), with
 * Envoy's check that a bracketed host is an IPv6 address: whether userinfo was present, or
 * undefined when it does not parse.
 */
function parseHost(value: string, from: number, to: number, foundAt: boolean): boolean | undefined {
  let s = foundAt ? Host.UserinfoStart : Host.HostStart;
  let v6At = -1;
  let userinfo = false;
  let port = 0;
  for (let i = from; i < to; i++) {
    const next = nextHostState(s, value.charCodeAt(i));
    switch (next) {
      case Host.Dead:
        return undefined;
      case Host.Userinfo:
        userinfo = true;
        break;
      case Host.V6:
        if (v6At === -1) v6At = i;
        break;
      case Host.Port:
        port = port * 10 + (value.charCodeAt(i) - 0x30);
        if (port > 0xffff) return undefined;
        break;
      default:
        break;
    }
    s = next;
  }
  switch (s) {
    case Host.HostStart:
    case Host.V6Start:
    case Host.V6:
    case Host.V6ZoneStart:
    case Host.V6Zone:
    case Host.PortStart:
    case Host.Userinfo:
    case Host.UserinfoStart:
      return undefined;
    default:
      break;
  }
  // Envoy's Utility::Url::initialize: a host in brackets must parse as an IPv6 address.
  if (v6At !== -1 && !isIPv6(value.slice(v6At, value.indexOf(']', v6At)))) return undefined;
  return userinfo;
}

/** RFC 3986 query and fragment characters: unreserved, `%`, sub-delims, `:`, `@`, `/`, `?`. */
function isQueryChar(c: number): boolean {
  if (isAlphaNum(c)) return true;
  switch (c) {
    case 0x2f: case 0x3f: case 0x3a: case 0x40: // / ? : @
    case 0x2d: case 0x2e: case 0x5f: case 0x7e: case 0x25: // - . _ ~ %
    case 0x21: case 0x24: case 0x26: case 0x27: case 0x28: case 0x29: case 0x2a: case 0x2b: case 0x2c: case 0x3b: case 0x3d: // ! $ & ' ( ) * + , ; =
      return true;
    default:
      return false;
  }
}

/**
 * Whether Envoy keeps a (single) `Referer` with this value: an absolute URL with neither a
 * fragment nor userinfo, or a relative reference (no fragment, no `:` before the first `/`,
 * only RFC 3986 query characters). An empty value is kept, as in Envoy.
 */
export function isValidReferer(value: string): boolean {
  const url = parseAbsolute(value);
  if (url !== undefined) return !url.fragment && !url.userinfo;
  let seenSlash = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x3a /* : */) {
      if (!seenSlash) return false;
    } else if (c === 0x2f /* / */) {
      seenSlash = true;
    } else if (!isQueryChar(c)) {
      return false;
    }
  }
  return true;
}
