// Gateway API's HTTPHeaderFilter (the RequestHeaderModifier and ResponseHeaderModifier HTTPRoute
// filters) and kgateway's TrafficPolicy `headerModifiers.request` / `.response`, which take the
// same shape with kgateway's own limits. Both reach Envoy as header rules whose values are
// substitution format strings (kgateway copies them verbatim): `%%` is a literal `%`, the common
// command operators (`%REQ(x)%`, `%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%`, `%RESPONSE_CODE%`)
// are evaluated per request, and the others are refused, as is a lone `%`, which Envoy refuses.

import type { HeaderFilterSpec, HeaderValue } from '../proxy/header-mutation.js';
import { parseHeaderValue } from '../proxy/header-format.js';
import { UNMUTABLE, UNMUTABLE_RESPONSE } from '../proxy/header-mutation.js';
import { isObject, list, obj, Schema, str, type ParseCtx } from './schema.js';
import { headerName, namespaceName, objectName } from './validate-common.js';
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
  const kept = keptName(side);
  const ok = (h: Header): boolean => kept(h.name) && h.value !== undefined;
  return (f) => ({ set: (f.set ?? []).filter(ok), add: (f.add ?? []).filter(ok), remove: (f.remove ?? []).filter(kept) });
}

/** A name whose rule has an effect: not `date` on the response side (the gateway writes it; warned about). */
function keptName(side: HeaderSide): (n: unknown) => n is string {
  return (n): n is string => typeof n === 'string' && !(side === 'response' && n.toLowerCase() === 'date');
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

/** A kgateway HTTPHeader's `secretRef` (SecretRefWithKey): the value is a Secret's data. */
export interface SecretHeaderRef {
  readonly name: string;
  /** Default: the policy's namespace (another needs a ReferenceGrant). */
  readonly namespace?: string;
  readonly key?: string;
}

/** A kgateway HTTPHeader: a name and inline value, or a Secret's (name and key each default to the other; neither: every key). */
export interface KgatewayHeader {
  readonly name?: string;
  readonly value?: HeaderValue;
  readonly secretRef?: SecretHeaderRef;
  /** The entry's path (`spec.headerModifiers.request.set[0]`), for messages about its Secret. */
  readonly at: string;
}

/** kgateway's HeaderModifiers side before its Secrets are read (credentials.ts resolves them). */
export interface KgatewayHeaderFilterSpec {
  readonly set: readonly KgatewayHeader[];
  readonly add: readonly KgatewayHeader[];
  readonly remove: readonly string[];
}

/** Secret data keys as kgateway's SecretRefWithKey allows them. */
export const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * kgateway's HeaderModifiers side (shared.HTTPHeaderFilter): lists without a uniqueness key,
 * inline values by kgateway's pattern, or newer kgateway's `secretRef` (exactly one of the two;
 * `name` required with a value), read once the Secrets are known.
 */
export function kgatewayHeaderFilter(what: string, side: HeaderSide): Schema<KgatewayHeaderFilterSpec> {
  const headerObj = obj(
    {
      name: mutableName(what, side).optional(),
      value: str({ min: 1, max: 4096, pattern: KGATEWAY_VALUE, patternHint: 'must be printable ASCII, words separated by one space or tab', secret: true }).map(headerValue(side)).optional(),
      secretRef: obj({
        name: objectName(),
        key: str({ min: 1, max: 253, pattern: SECRET_KEY, patternHint: 'must be a Secret data key (letters, digits, -, _ and .)' }).optional(),
        namespace: namespaceName().optional(),
      }).optional(),
    },
    { exactlyOneOf: [['value', 'secretRef']], exactlyOneOfCel: true },
  );
  const kept = keptName(side);
  const header = new (class extends Schema<KgatewayHeader> {
    parse(v: unknown, path: string, cx: ParseCtx): KgatewayHeader | undefined {
      const before = cx.errors;
      const h = headerObj.parse(v, path, cx);
      // The CRD's rule `has(self.value) ? has(self.name) : true`, on what was written: a name
      // given but refused already has its error.
      if (isObject(v) && v['value'] != null && v['name'] == null) cx.error(path, 'Invalid value: name is required when using an inline value');
      // An entry with an error (the policy is invalid) is not resolved: a refused name or key
      // would read the Secret another way (every key, the name as key) and report that too.
      if (h === undefined || cx.errors > before) return undefined;
      if (h.secretRef !== undefined) {
        // A response rule on date has no effect, but one from a Secret is still resolved (a
        // missing Secret or key fails the headerModifiers, as in kgateway).
        return { ...(h.name !== undefined ? { name: h.name } : {}), secretRef: h.secretRef, at: path };
      }
      return h.value !== undefined && kept(h.name) ? { name: h.name, value: h.value, at: path } : undefined;
    }
  })();
  return obj({
    set: list(header, { max: 16 }).optional(),
    add: list(header, { max: 16 }).optional(),
    remove: list(mutableName(what, side), { max: 16 }).optional(),
  }).map((f) => ({ set: f.set ?? [], add: f.add ?? [], remove: (f.remove ?? []).filter(kept) }));
}
