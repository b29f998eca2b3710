// Gateway API's HTTPHeaderFilter (the RequestHeaderModifier and ResponseHeaderModifier HTTPRoute
// filters) and kgateway's TrafficPolicy `headerModifiers.request` / `.response`, which take the
// same shape with kgateway's own limits. Both reach Envoy as header rules whose values are
// substitution format strings (kgateway copies them verbatim): `%%` is a literal `%`, the common
// command operators (`%REQ(x)%`, `%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%`, `%RESPONSE_CODE%`)
// are evaluated per request, and the others are refused, as is a lone `%`, which Envoy refuses.

import type { HeaderFilterSpec, HeaderValue } from '../proxy/header-mutation.js';
import { parseHeaderValue } from '../proxy/header-format.js';
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
/**
 * The value of a header rule as Envoy's substitution formatter reads it (`%%` → `%`, command
 * operators evaluated per request where jwtgate can, see header-format.ts), or undefined after
 * reporting why it cannot be served.
 */
export function headerValue(side: HeaderSide): (v: string, path: string, cx: ParseCtx) => HeaderValue | undefined {
  return (v, path, cx) => {
    // NUL, CR and LF Envoy's header rules refuse; the other controls and DEL the upstream client refuses.
    if (CONTROL_CHAR.test(v)) {
      cx.error(path, 'Invalid value: a header value may not hold control characters (CR, LF, NUL and the like)');
      return undefined;
    }
    const parsed = parseHeaderValue(v, side);
    if ('error' in parsed) {
      cx.error(path, `Invalid value: ${parsed.error}`);
      return undefined;
    }
    return parsed.value;
  };
}

export type HeaderSide = 'request' | 'response';

type Header = { readonly name: string; readonly value: HeaderValue };

/**
 * Only the items that passed (an item with a refused name or value is reported, and its resource
 * or rule invalid), without response rules on `date` (no effect, warned about).
 */
function complete(side: HeaderSide): (f: { set?: readonly Header[]; add?: readonly Header[]; remove?: readonly string[] }) => HeaderFilterSpec {
  const kept = (n: unknown): n is string => typeof n === 'string' && !(side === 'response' && n.toLowerCase() === 'date');
  const ok = (h: Header): boolean => kept(h.name) && h.value !== undefined;
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
  const header = obj({ name: mutableName(what, side), value: str({ min: 1, max: 4096, secret: true }).map(headerValue(side)) });
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
      value: str({ min: 1, max: 4096, pattern: KGATEWAY_VALUE, patternHint: 'must be printable ASCII, words separated by one space or tab', secret: true }).map(headerValue(side)),
    },
    { refused: { secretRef: 'secretRef (a header value read from a Secret) is not supported by this jwtgate version: the policy is rejected so that its routes fail closed (500) instead of going out without that header' } },
  );
  return obj({
    set: list(header, { max: 16 }).optional(),
    add: list(header, { max: 16 }).optional(),
    remove: list(mutableName(what, side), { max: 16 }).optional(),
  }).map(complete(side));
}
