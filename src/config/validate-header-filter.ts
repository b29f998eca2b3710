// Gateway API's HTTPHeaderFilter (the RequestHeaderModifier and ResponseHeaderModifier HTTPRoute
// filters) and kgateway's TrafficPolicy `headerModifiers.request` / `.response`, which take the
// same shape with kgateway's own limits. Both reach Envoy as header rules whose values are
// substitution format strings (kgateway copies them verbatim): `%%` is a literal `%`, and a
// command operator (`%REQ(x)%`, `%DOWNSTREAM_REMOTE_ADDRESS%`) is not evaluated here, so it is
// refused, as is a lone `%`, which Envoy refuses.

import type { HeaderFilterSpec } from '../proxy/header-mutation.js';
import { UNMUTABLE, UNMUTABLE_RESPONSE } from '../proxy/header-mutation.js';
import { list, obj, str, type ParseCtx, type Schema } from './schema.js';
import { headerName } from './validate-common.js';
import { CONTROL_CHAR } from '../http/field-value.js';

/**
 * kgateway's HTTPHeader value pattern (TrafficPolicy headerModifiers), `^[!-~]+([\t ]?[!-~]+)*$`:
 * printable ASCII words separated by one space or tab. Written without its nested optional
 * quantifier, which backtracks exponentially in a JavaScript regex on a value that fails it (the
 * API server's RE2 does not): the same strings match.
 */
const KGATEWAY_VALUE = /^[!-~]+(?:[\t ][!-~]+)*$/;
const COMMAND = /^%([A-Z][A-Z0-9_]*)(\([^)]*\))?(:[0-9]+)?%/;
/** Envoy's command operator names, which a message may quote (any other `%WORD%` in a value is not shown: it may be part of a credential). */
const KNOWN_COMMAND = /^(REQ|RESP|TRAILER|START_TIME|END_TIME|PROTOCOL|UPSTREAM_PROTOCOL|HOSTNAME|DYNAMIC_METADATA|CLUSTER_METADATA|UPSTREAM_METADATA|FILTER_STATE|UPSTREAM_FILTER_STATE|CEL|METADATA|REQUESTED_SERVER_NAME|ROUTE_NAME|VIRTUAL_CLUSTER_NAME|ENVIRONMENT|STREAM_ID|CONNECTION_ID|UNIQUE_ID|TRACE_ID|GRPC_STATUS|GRPC_STATUS_NUMBER|PER_REQUEST_STATE|REQUEST_HEADERS_BYTES|RESPONSE_CODE|RESPONSE_FLAGS|RESPONSE_CODE_DETAILS|DURATION|REQUEST_DURATION|RESPONSE_DURATION|BYTES_RECEIVED|BYTES_SENT|(DOWNSTREAM|UPSTREAM)_[A-Z0-9_]+)$/;

/**
 * The value Envoy's substitution formatter gives for `v` when it holds no command operator
 * (`%%` → `%`), or undefined after reporting why it cannot be served.
 */
export function literalHeaderValue(v: string, path: string, cx: ParseCtx): string | undefined {
  // NUL, CR and LF Envoy's header rules refuse; the other controls and DEL the upstream client refuses.
  if (CONTROL_CHAR.test(v)) {
    cx.error(path, 'Invalid value: a header value may not hold control characters (CR, LF, NUL and the like)');
    return undefined;
  }
  if (!v.includes('%')) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    if (v[i + 1] === '%') {
      out += '%';
      i++;
      continue;
    }
    const m = COMMAND.exec(v.slice(i));
    if (m) {
      const what = KNOWN_COMMAND.test(m[1]!) ? `%${m[1]}${m[2] !== undefined ? '(…)' : ''}%` : `the command operator at position ${i}`;
      cx.error(path, `Invalid value: ${what} is an Envoy command operator, which jwtgate does not evaluate (kgateway passes header values to Envoy as format strings); write %% for a literal %`);
    } else {
      cx.error(path, `Invalid value: a % at position ${i} starts no Envoy command operator, and Envoy refuses the value ("Couldn't find valid command"): write %% for a literal %`);
    }
    return undefined;
  }
  return out;
}

export type HeaderSide = 'request' | 'response';

type Header = { readonly name: string; readonly value: string };

/**
 * Only the items that passed (an item with a refused name or value is reported, and its resource
 * or rule invalid), without response rules on `date` (no effect, warned about).
 */
function complete(side: HeaderSide): (f: { set?: readonly Header[]; add?: readonly Header[]; remove?: readonly string[] }) => HeaderFilterSpec {
  const kept = (n: unknown): n is string => typeof n === 'string' && !(side === 'response' && n.toLowerCase() === 'date');
  const ok = (h: Header): boolean => kept(h.name) && typeof h.value === 'string';
  return (f) => ({ set: (f.set ?? []).filter(ok), add: (f.add ?? []).filter(ok), remove: (f.remove ?? []).filter(kept) });
}

function mutableName(flavor: string, side: HeaderSide): Schema<string> {
  const refused = side === 'request' ? UNMUTABLE : UNMUTABLE_RESPONSE;
  return headerName(256).check((name, path, cx) => {
    const lower = name.toLowerCase();
    if (Object.hasOwn(refused, lower)) cx.error(path, `Forbidden: ${flavor} may not change the ${lower} header here: ${refused[lower]}`);
    // Envoy's connection manager writes the date over any rule, as jwtgate's front end does: no effect.
    else if (side === 'response' && lower === 'date') cx.warn(path, `a ${flavor} rule on date has no effect: the gateway writes the date itself, as Envoy's connection manager does over any rule`);
  });
}

/** Gateway API HTTPHeaderFilter: set/add by name (`listType=map`, exact duplicates refused), remove (`listType=set`). */
export function gatewayHeaderFilter(what: string, side: HeaderSide): Schema<HeaderFilterSpec> {
  const header = obj({ name: mutableName(what, side), value: str({ min: 1, max: 4096, secret: true }).map(literalHeaderValue) });
  return obj({
    set: list(header, { max: 16, uniqueKey: (h) => h.name, uniqueKeyName: 'name' }).optional(),
    add: list(header, { max: 16, uniqueKey: (h) => h.name, uniqueKeyName: 'name' }).optional(),
    remove: list(mutableName(what, side), { max: 16, uniqueKey: (n) => n }).optional(),
  }).map(complete(side));
}

/** kgateway's HeaderModifiers side: lists without a uniqueness key, values by kgateway's pattern; `secretRef` values are not read here. */
export function kgatewayHeaderFilter(what: string, side: HeaderSide): Schema<HeaderFilterSpec> {
  const header = obj(
    {
      name: mutableName(what, side),
      value: str({ min: 1, max: 4096, pattern: KGATEWAY_VALUE, patternHint: 'must be printable ASCII, words separated by one space or tab', secret: true }).map(literalHeaderValue),
    },
    { refused: { secretRef: 'secretRef (a header value read from a Secret) is not supported by this jwtgate version: the policy is rejected so that its routes fail closed (500) instead of going out without that header' } },
  );
  return obj({
    set: list(header, { max: 16 }).optional(),
    add: list(header, { max: 16 }).optional(),
    remove: list(mutableName(what, side), { max: 16 }).optional(),
  }).map(complete(side));
}
