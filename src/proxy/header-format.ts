// Envoy's substitution format strings in header rule values. kgateway copies the values of the
// HTTPRoute header filters, a TrafficPolicy's `headerModifiers` and a ListenerPolicy's early rules
// verbatim into Envoy, whose HeaderParser and HeaderMutations build a formatter from each
// (FormatterImpl with omit_empty_values: an operator without a value gives '' rather than '-').
// `%%` is a literal `%`; any other `%` must start a command `%NAME%`, `%NAME(args)%` or
// `%NAME(args):N%` (SubstitutionFormatParser), or Envoy refuses the value. jwtgate evaluates the
// commands a header rule can use on its HTTP/1.1 front end (the kgateway docs' `x-client-ip` and
// `x-response-code` examples among them) and refuses the others with why. A DirectResponse
// `bodyFormat` uses the same commands (body-format.ts), where a command without a value is `-`.

import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { firstHeaderValue, type GatewayRequest } from '../http/exchange.js';
import { CONTROL_CHAR } from '../http/field-value.js';
import { applyEdgeHeaders, latin1AsUtf8, NON_ASCII } from './header-rules.js';

/**
 * One evaluated part: `headers` is the list the rule edits (the request's or the response's).
 * undefined: no value (Envoy's nullopt), which a header rule writes as '' and a body as `-`.
 */
type Dynamic = (headers: readonly string[], response: boolean, req: GatewayRequest, startedAt: number, status: number) => string | undefined;

/** Where a format is used: a header rule (no value is '', omit_empty_values) or a DirectResponse body (no value is `-`). */
export type FormatUse = 'header' | 'body';

/** A part that never has a value (a body writes `-` for it). */
const NO_VALUE: Dynamic = () => undefined;

/** Parts that give a number, which a JSON body keeps as one (Envoy's typed value). */
export const NUMERIC = new WeakSet<Dynamic>();

/** A value with command operators: literal text and parts evaluated per request, in order. */
export interface HeaderFormat {
  readonly parts: readonly (string | Dynamic)[];
}

/** A value whose commands all gave '' when the configuration was read: every rule with it is skipped. */
const EMPTY_FORMAT: HeaderFormat = { parts: [] };

/** What a value is: literal text (`%%` read as `%`), a format, or why it cannot be served. */
export type ParsedHeaderValue = { readonly value: string | HeaderFormat } | { readonly error: string };

/**
 * The `encode` for a list that holds text (a response's, the request's own before it goes
 * upstream): values as they are. Pass this one rather than another identity function:
 * `%REQ(x):N%` tells a list of UTF-8 bytes as latin1 (cut at N) from text (cut before a character
 * N would split) by it.
 */
export const asText = (v: string): string => v;

/** SubstitutionFormatParser::commandWithArgsRegex, anchored at a `%` (the arguments end at the first `)` that lets the rest match). */
const COMMAND = /^%([A-Z0-9_]+)(?:\((.*?)\))?(?::([0-9]+))?%/;

/** Envoy's command names a message may quote (any other `%WORD%` in a value is not shown: it may be part of a credential). */
const KNOWN_COMMAND = /^(REQ|RESP|TRAILER|LOCAL_REPLY_BODY|START_TIME|START_TIME_LOCAL|END_TIME|PROTOCOL|UPSTREAM_PROTOCOL|HOSTNAME|DYNAMIC_METADATA|CLUSTER_METADATA|UPSTREAM_METADATA|FILTER_STATE|UPSTREAM_FILTER_STATE|CEL|METADATA|REQUESTED_SERVER_NAME|ROUTE_NAME|VIRTUAL_CLUSTER_NAME|ENVIRONMENT|STREAM_ID|CONNECTION_ID|UNIQUE_ID|TRACE_ID|GRPC_STATUS|GRPC_STATUS_NUMBER|PER_REQUEST_STATE|REQUEST_HEADERS_BYTES|RESPONSE_CODE|RESPONSE_FLAGS|RESPONSE_CODE_DETAILS|DURATION|REQUEST_DURATION|RESPONSE_DURATION|BYTES_RECEIVED|BYTES_SENT|(DOWNSTREAM|UPSTREAM)_[A-Z0-9_]+)$/;

/** What jwtgate evaluates, for messages. */
const EVALUATED_COMMANDS =
  '%REQ(name)%, %RESP(name)%, %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%, %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%, %START_TIME%, %PROTOCOL%, %HOSTNAME%, %RESPONSE_CODE%, %ENVIRONMENT(NAME)%, %UNIQUE_ID%, %REQUESTED_SERVER_NAME%, %LOCAL_REPLY_BODY%, %UPSTREAM_HOST% and %UPSTREAM_REMOTE_ADDRESS% (request side only)';

/** Why some commands are refused: what the front end cannot give. */
const WHY_REFUSED: Readonly<Record<string, string>> = {
  DOWNSTREAM_REMOTE_ADDRESS: 'the client\'s port is not known here (uWebSockets.js gives the address only): use %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%',
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: 'the client\'s port is not known here (uWebSockets.js gives the address only): use %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%',
  DOWNSTREAM_REMOTE_PORT: 'the client\'s port is not known here (uWebSockets.js gives the address only)',
  DOWNSTREAM_DIRECT_REMOTE_PORT: 'the client\'s port is not known here (uWebSockets.js gives the address only)',
};

/** Commands that take no arguments and no `:N` (Envoy: "… does not take any parameters or length"). */
const COMMAND_ONLY = new Set(['LOCAL_REPLY_BODY', 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT', 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT', 'PROTOCOL', 'HOSTNAME', 'RESPONSE_CODE', 'UNIQUE_ID', 'REQUESTED_SERVER_NAME', 'UPSTREAM_HOST', 'UPSTREAM_REMOTE_ADDRESS']);

const HEADER_NAME = /^:?[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Reads `v` as Envoy's formatter does. `side`: which header list the rule edits (the upstream
 * addresses are known only after the request went out: '' on the request side, as in Envoy;
 * jwtgate does not give them on the response side). `use`: a header rule's value or a
 * DirectResponse body's. The result is text; encodeFormat turns it into what an upstream
 * request's list holds (UTF-8 bytes as latin1).
 */
export function parseHeaderValue(v: string, side: 'request' | 'response', use: FormatUse = 'header'): ParsedHeaderValue {
  // An empty value (a Secret's, as kgateway reads it) is a rule Envoy skips, not an empty field.
  if (v === '') return { value: use === 'header' ? EMPTY_FORMAT : '' };
  if (!v.includes('%')) return { value: v };
  const parts: (string | Dynamic)[] = [];
  let text = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c !== '%') {
      text += c;
      continue;
    }
    if (v[i + 1] === '%') {
      text += '%';
      i++;
      continue;
    }
    const m = COMMAND.exec(v.slice(i));
    if (m === null) return { error: `a % at position ${i} starts no Envoy command operator, and Envoy refuses the value ("Couldn't find valid command"): write %% for a literal %` };
    const [whole, name, args, length] = m as unknown as [string, string, string | undefined, string | undefined];
    const part = command(name, args, length === undefined ? undefined : Number(length), side, i, use);
    if (typeof part === 'object') return part;
    if (typeof part === 'string') text += part;
    else {
      if (text !== '') parts.push(text);
      text = '';
      parts.push(part);
    }
    i += whole.length - 1;
  }
  // Commands fixed at load that give '' (`%REQUESTED_SERVER_NAME%`, `%UPSTREAM_HOST%` on the
  // request side, an empty variable): Envoy's value is '' and the rule is skipped, so it stays a
  // format (one that always gives '') rather than becoming an empty literal that would be written.
  if (parts.length === 0) return { value: text === '' ? EMPTY_FORMAT : text };
  if (text !== '') parts.push(text);
  return { value: { parts } };
}

/**
 * One command: a Dynamic part, a string (a value fixed when the configuration is read, as Envoy
 * reads `%HOSTNAME%` and `%ENVIRONMENT(X)%` once), or why it is refused.
 */
function command(name: string, args: string | undefined, length: number | undefined, side: 'request' | 'response', at: number, use: FormatUse): Dynamic | string | { error: string } {
  const shown = KNOWN_COMMAND.test(name) ? `%${name}${args !== undefined ? '(…)' : ''}%` : `the command operator at position ${at}`;
  const refuse = (why: string) => ({ error: `${shown} ${why}` });
  if (COMMAND_ONLY.has(name) && (args !== undefined || length !== undefined)) return refuse(`takes no parameters or length (Envoy: "${name} does not take any parameters or length")`);
  switch (name) {
    case 'REQ':
    case 'RESP': {
      if (args === undefined || args === '') return refuse(`requires parameters (Envoy: "${name} requires parameters"): the header's name`);
      const names = args.split('?');
      if (names.length > 2) return refuse('names more than one alternative header (Envoy: "More than 1 alternative header specified in token")');
      if (!names.every((n) => HEADER_NAME.test(n))) return refuse('names a header with characters a header name cannot hold (Envoy: "Invalid header configuration")');
      const [main, alt] = names.map((n) => n.toLowerCase()) as [string, string | undefined];
      return name === 'REQ' ? requestHeader(main, alt, length) : responseHeader(main, alt, length);
    }
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT':
      // kgateway's connection manager trusts no X-Forwarded-For hop: the client is the peer.
      return (_h, _r, req) => req.remoteAddress;
    case 'START_TIME': {
      if (length !== undefined) return refuse('does not allow a length (Envoy: "START_TIME does not allow length to be specified.")');
      const fmt = startTimeFormat(args ?? '');
      if (typeof fmt === 'object') return refuse(fmt.error);
      return fmt;
    }
    case 'PROTOCOL':
      // uWebSockets.js hands over HTTP/1.1 requests only.
      return 'HTTP/1.1';
    case 'HOSTNAME':
      return os.hostname();
    case 'RESPONSE_CODE':
      // Envoy: responseCode().value_or(0), so "0" before there is an answer.
      return numeric((_h, _r, _req, _s, status) => String(status));
    case 'ENVIRONMENT': {
      if (args === undefined || args === '') return refuse('requires parameters (Envoy: "ENVIRONMENT requires parameters"): the variable\'s name');
      // Own variables only: process.env inherits Object.prototype (`valueOf`, `constructor`, `__proto__`).
      const value = Object.hasOwn(process.env, args) ? process.env[args] : undefined;
      // Envoy's EnvironmentFormatter: an unset variable is "-", even where empty values are omitted.
      if (value === undefined) return '-';
      // A body may hold them (Envoy writes the variable as it is); a header value cannot.
      if (use === 'header' && CONTROL_CHAR.test(value)) return refuse(`names a variable whose value holds control characters (CR, LF and the like), which a header value cannot`);
      return truncate(value, length);
    }
    case 'UNIQUE_ID':
      return () => randomUUID();
    case 'LOCAL_REPLY_BODY':
      // Envoy's HTTP command (LocalReplyBodyFormatter): the direct response's `body`, which
      // kgateway never sets with a bodyFormat, so '' (a value: not `-`; a header rule is skipped).
      return '';
    case 'REQUESTED_SERVER_NAME':
      // The TLS SNI: jwtgate's listeners are plain HTTP, so there is none ('' omits the header).
      return use === 'header' ? '' : NO_VALUE;
    case 'UPSTREAM_HOST':
    case 'UPSTREAM_REMOTE_ADDRESS':
      // Envoy evaluates request rules before an upstream host is chosen: ''.
      if (side === 'request') return use === 'header' ? '' : NO_VALUE;
      return refuse('is not evaluated by jwtgate in a response rule (the upstream\'s resolved address is not kept per answer)');
  }
  const why = WHY_REFUSED[name];
  if (why !== undefined) return refuse(`is not evaluated by jwtgate: ${why}`);
  if (KNOWN_COMMAND.test(name)) return refuse(`is an Envoy command operator jwtgate does not evaluate (it evaluates ${EVALUATED_COMMANDS}); write %% for a literal %`);
  return refuse('is not an Envoy command operator (Envoy: "Not supported field in StreamInfo"), so Envoy refuses the value: write %% for a literal %');
}

/**
 * SubstitutionFormatUtils::truncate: the first N bytes. `v` is text (its UTF-8 bytes count, and a
 * character N would split is left out whole, where Envoy keeps its first bytes), or with
 * `bytes`, UTF-8 bytes as latin1 (an upstream request's list), one per character.
 */
function truncate(v: string, length: number | undefined, bytes = false): string {
  if (length === undefined || v.length <= (bytes ? length : length / 3)) return v;
  if (bytes || !NON_ASCII.test(v)) return v.slice(0, length);
  const b = Buffer.from(v, 'utf8');
  if (b.length <= length) return v;
  let end = length;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}

/**
 * `%REQ(X?Y):N%`: the first value of X (Envoy's HeaderFormatter takes `header[0]`, it does not
 * join repeated fields), else of Y, cut to N characters. On the request side the list being
 * edited; on the response side the request as it went on. Envoy keeps the Host as `:authority`
 * and the request line as pseudo-headers; the path is the one before any rewrite (the router
 * evaluates the rules first).
 */
function requestHeader(main: string, alt: string | undefined, length: number | undefined, encode: (v: string) => string = asText): Dynamic {
  const part: Dynamic = (headers, response, req) => {
    const sent = response ? req.sentHeaders : undefined;
    let v: string | undefined;
    if (sent !== undefined) {
      // The request as it went upstream: its list holds UTF-8 bytes as latin1, the answer's text.
      v = sentValue(sent, main, req) ?? (alt === undefined ? undefined : sentValue(sent, alt, req));
    } else {
      // An answer the gateway gives itself (a 401, a redirect, a DirectResponse): Envoy's request
      // map then holds its connection manager's x-request-id, x-forwarded-for and -proto.
      if (response) applyEdgeHeaders(req);
      const list = response ? req.headers : headers;
      v = requestValue(list, main, req, encode);
      if (v === undefined && alt !== undefined) v = requestValue(list, alt, req, encode);
    }
    return v === undefined ? undefined : truncate(v, length, sent === undefined && encode !== asText);
  };
  if (encode === asText) ENCODED.set(part, (e) => requestHeader(main, alt, length, e));
  return part;
}

/** A request header's first value; the request line's parts (not in the list, so text) through `encode`. */
function requestValue(headers: readonly string[], name: string, req: GatewayRequest, encode: (v: string) => string): string | undefined {
  if (name === 'host' || name === ':authority') return firstHeaderValue(headers, 'host') ?? encodeText(req.authority, encode);
  if (name.startsWith(':')) {
    switch (name) {
      case ':path': {
        const query = req.queryAsEnvoy ?? req.query;
        return encodeText(query === '' ? req.path : `${req.path}?${query}`, encode);
      }
      case ':method':
        return req.method;
      case ':scheme':
        return req.scheme;
      default:
        return undefined;
    }
  }
  return firstHeaderValue(headers, name);
}

/** A header of the request sent upstream, as text; `:path` the one sent (after a rewrite, as Envoy's router edits it). */
function sentValue(sent: readonly string[], name: string, req: GatewayRequest): string | undefined {
  if (name === ':path') {
    const query = req.queryAsEnvoy ?? req.query;
    const path = req.upstreamPath ?? req.path;
    return query === '' ? path : `${path}?${query}`;
  }
  const v = requestValue(sent, name, req, asText);
  return v === undefined || !NON_ASCII.test(v) ? v : latin1AsUtf8(v);
}

const encodeText = (v: string, encode: (v: string) => string): string => (NON_ASCII.test(v) ? encode(v) : v);

/** `%RESP(X?Y):N%`: the answer's first value of X, else Y; on the request side never any (Envoy reads an empty map there). */
function responseHeader(main: string, alt: string | undefined, length: number | undefined): Dynamic {
  return (headers, response) => {
    if (!response) return undefined;
    const v = firstHeaderValue(headers, main) ?? (alt === undefined ? undefined : firstHeaderValue(headers, alt));
    return v === undefined ? undefined : truncate(v, length);
  };
}

function numeric(d: Dynamic): Dynamic {
  NUMERIC.add(d);
  return d;
}

/** The text of `f` for this request; '' means the rule is skipped (kgateway never sets keep_empty_value). */
export function formatHeaderValue(f: HeaderFormat, headers: readonly string[], response: boolean, req: GatewayRequest, startedAt: number, status: number): string {
  return formatParts(f, headers, response, req, startedAt, status, '');
}

/**
 * The text of `f` for a DirectResponse body (Envoy's SubstitutionFormatString without
 * omit_empty_values): a part without a value is `-`. Formatted before the answer exists, as
 * Envoy's router does (`%RESPONSE_CODE%` is 0, `%RESP%` has no value), from the request as routed.
 */
export function formatBodyText(f: HeaderFormat, req: GatewayRequest, startedAt: number): string {
  return formatParts(f, req.headers, false, req, startedAt, 0, '-');
}

/** `f`'s parts in order, `missing` for one without a value. */
function formatParts(f: HeaderFormat, headers: readonly string[], response: boolean, req: GatewayRequest, startedAt: number, status: number, missing: string): string {
  let out = '';
  for (const p of f.parts) out += typeof p === 'string' ? p : (p(headers, response, req, startedAt, status) ?? missing);
  return out;
}

/**
 * `f` with its literal text and the values that do not come from a header list passed through
 * `encode` (an upstream request's list holds UTF-8 bytes as latin1; a header's own value already
 * does).
 */
export function encodeFormat(f: HeaderFormat, encode: (v: string) => string): HeaderFormat {
  if (encode === asText) return f;
  return {
    parts: f.parts.map((p) => {
      if (typeof p === 'string') return encode(p);
      const e = ENCODED.get(p);
      return e === undefined ? p : e(encode);
    }),
  };
}

/** Dynamic parts whose text does not come from the list being edited (the path, a time format's own text): how to encode them. */
const ENCODED = new WeakMap<Dynamic, (encode: (v: string) => string) => Dynamic>();

// ---- %START_TIME(fmt)% ----------------------------------------------------------------------

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** One piece of a time format: text, or what to write for a time (ms since the epoch, with the sub-millisecond fraction). */
type TimePiece = string | ((d: Date, nanos: number) => string);

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** Nanoseconds within the second as 9 digits, of which the first `n` (Envoy truncates, it does not round). */
const subseconds = (nanos: number, n: number): string => String(nanos).padStart(9, '0').slice(0, n);
const trimmed = (nanos: number): string => String(nanos).padStart(9, '0').replace(/0+$/, '') || '0';

/**
 * The specifiers absl::FormatTime and Envoy's DateFormatter give that jwtgate writes (UTC, as
 * Envoy's START_TIME): the strftime set a header value would use, Envoy's `%s`, `%f`, `%1f`–`%9f`,
 * `%*f`, and absl's `%E#S`, `%E*S`, `%E#f`, `%E*f`, `%Ez`, `%E4Y`.
 */
function timePiece(spec: string): TimePiece | undefined {
  switch (spec) {
    case 'Y': return (d) => String(d.getUTCFullYear());
    case 'E4Y': return (d) => pad(d.getUTCFullYear(), 4);
    case 'C': return (d) => pad(Math.floor(d.getUTCFullYear() / 100));
    case 'y': return (d) => pad(d.getUTCFullYear() % 100);
    case 'm': return (d) => pad(d.getUTCMonth() + 1);
    case 'd': return (d) => pad(d.getUTCDate());
    case 'e': return (d) => String(d.getUTCDate()).padStart(2, ' ');
    case 'H': return (d) => pad(d.getUTCHours());
    case 'I': return (d) => pad(d.getUTCHours() % 12 || 12);
    case 'p': return (d) => (d.getUTCHours() < 12 ? 'AM' : 'PM');
    case 'M': return (d) => pad(d.getUTCMinutes());
    case 'S': return (d) => pad(d.getUTCSeconds());
    case 'j': return (d) => pad(Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1, 3);
    case 'a': return (d) => DAYS[d.getUTCDay()]!.slice(0, 3);
    case 'A': return (d) => DAYS[d.getUTCDay()]!;
    case 'b':
    case 'h': return (d) => MONTHS[d.getUTCMonth()]!.slice(0, 3);
    case 'B': return (d) => MONTHS[d.getUTCMonth()]!;
    case 'u': return (d) => String(d.getUTCDay() || 7);
    case 'w': return (d) => String(d.getUTCDay());
    case 'z': return () => '+0000';
    case 'Ez': return () => '+00:00';
    case 'Z': return () => 'UTC';
    case 'T': return (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
    case 'R': return (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    case 'F': return (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    case 'D': return (d) => `${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${pad(d.getUTCFullYear() % 100)}`;
    case 's': return (d) => String(Math.floor(d.getTime() / 1000));
    case 'f': return (_d, nanos) => subseconds(nanos, 9);
    case '*f':
    case 'E*f': return (_d, nanos) => trimmed(nanos);
    case 'E*S': return (d, nanos) => (nanos === 0 ? pad(d.getUTCSeconds()) : `${pad(d.getUTCSeconds())}.${trimmed(nanos)}`);
    case '%': return '%';
  }
  let m = /^([1-9])f$/.exec(spec) ?? /^E([1-9])f$/.exec(spec);
  if (m) {
    const n = Number(m[1]);
    return (_d, nanos) => subseconds(nanos, n);
  }
  m = /^E([0-9])S$/.exec(spec);
  if (m) {
    const n = Number(m[1]);
    return (d, nanos) => (n === 0 ? pad(d.getUTCSeconds()) : `${pad(d.getUTCSeconds())}.${subseconds(nanos, n)}`);
  }
  return undefined;
}

/** Envoy's default START_TIME text (AccessLogDateTimeFormatter): `%Y-%m-%dT%H:%M:%E3SZ`, e.g. `2026-12-01T01:02:03.456Z`. */
const DEFAULT_TIME_FORMAT = '%Y-%m-%dT%H:%M:%E3SZ';

/** A START_TIME part for format `fmt` ('' is Envoy's default), or why it is refused. */
function startTimeFormat(fmt: string): Dynamic | { error: string } {
  const pieces: TimePiece[] = [];
  const source = fmt === '' ? DEFAULT_TIME_FORMAT : fmt;
  const spec = /%([-_0^#]*)(E[0-9*][Sf]|E4Y|Ez|[1-9*]?f|[A-Za-z%])/y;
  let text = '';
  for (let i = 0; i < source.length; ) {
    if (source[i] !== '%') {
      text += source[i++];
      continue;
    }
    spec.lastIndex = i;
    const m = spec.exec(source);
    const name = m?.[2];
    if (m === null || name === undefined) return { error: `has a format whose % at position ${i} is no time specifier jwtgate writes` };
    if (name === 'n' || name === 't') return { error: 'has a format with a newline or tab specifier (Envoy: "Format string contains newline.")' };
    if (m[1] !== '') return { error: `has a format with a flag on %${m[1]}${name}, which jwtgate does not write` };
    const piece = timePiece(name);
    if (piece === undefined) return { error: `has a format with %${name}, which jwtgate does not write (it writes %Y %m %d %H %M %S, %s, %f, %3f, %E3S, %z and the other common strftime specifiers, in UTC)` };
    if (typeof piece === 'string') text += piece;
    else {
      if (text !== '') pieces.push(text);
      text = '';
      pieces.push(piece);
    }
    i += m[0].length;
  }
  if (text !== '') pieces.push(text);
  const write = (startedAt: number): string => {
    // performance.timeOrigin + now() keeps the microseconds Date.now() drops.
    const epochMs = performance.timeOrigin + startedAt;
    const ms = Math.floor(epochMs);
    const d = new Date(ms);
    const nanos = (d.getUTCMilliseconds() * 1_000_000) + Math.floor((epochMs - ms) * 1000) * 1000;
    let out = '';
    for (const p of pieces) out += typeof p === 'string' ? p : p(d, nanos);
    return out;
  };
  const part: Dynamic = (_h, _r, _req, startedAt) => write(startedAt);
  // A format with text beyond ASCII (its own, the times are ASCII) is encoded like literal text.
  if (NON_ASCII.test(source)) ENCODED.set(part, (encode) => (_h, _r, _req, startedAt) => encode(write(startedAt)));
  return part;
}
