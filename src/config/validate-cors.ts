// Gateway API's HTTPCORSFilter (the HTTPRoute `CORS` filter's `cors`, and inline in kgateway's
// TrafficPolicy `cors`, which adds `disable`): the CRD's markers and CEL rules, converted as
// kgateway's BuildCorsPolicy converts them (src/proxy/cors.ts).

import { originMatcher, type CorsSpec } from '../proxy/cors.js';
import { bool, int, list, obj, str, type ParseCtx } from './schema.js';
import { headerName } from './validate-common.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', '*'] as const;

// CORSOrigin: `*`, or scheme://host[:port] where the host may hold `*` (Gateway API 1.3+; 1.2's
// AbsoluteURI also allowed a path, which an Origin header never has: warned about).
const ORIGIN = /^(\*|[a-zA-Z][a-zA-Z0-9+\-.]+:\/\/[^:/?#]+(:[0-9]{1,5})?)$/;
const ORIGIN_WITH_PATH = /^[a-zA-Z][a-zA-Z0-9+\-.]+:\/\/[^:/?#]+(:[0-9]{1,5})?[/?#].*$/;

const origin = str({ min: 1, max: 253 }).check((v, path, cx) => {
  if (ORIGIN.test(v)) return;
  if (ORIGIN_WITH_PATH.test(v)) {
    cx.warn(path, `"${v}" has a path: a browser's Origin header never does (scheme://host[:port]), so this entry matches no request`);
    return;
  }
  cx.error(path, `Invalid value: "${v}": an origin is "*" or scheme://host[:port], where the host may hold "*" (https://*.example.com)`);
});

/** A list is a set (`listType=set`: exact duplicates are refused); `*` may only stand alone where the CRD's CEL rules say so. */
function aloneAndUnique(what: string, starAlone = true) {
  return (items: readonly string[], path: string, cx: ParseCtx): void => {
    if (starAlone && items.includes('*') && items.length > 1) cx.error(path, `Invalid value: ${what} cannot contain '*' alongside other ${what === 'AllowOrigins' ? 'origins' : what === 'AllowMethods' ? 'methods' : 'headers'}`);
    const seen = new Set<string>();
    items.forEach((v, i) => {
      if (seen.has(v)) cx.error(`${path}[${i}]`, `Duplicate value: "${v}"`);
      seen.add(v);
    });
  };
}

const fields = {
  allowOrigins: list(origin, { max: 64 }).check(aloneAndUnique('AllowOrigins')).optional(),
  allowCredentials: bool().optional(),
  allowMethods: list(str({ enum: METHODS }), { max: 9 }).check(aloneAndUnique('AllowMethods')).optional(),
  allowHeaders: list(headerName(256), { max: 64 }).check(aloneAndUnique('AllowHeaders')).optional(),
  exposeHeaders: list(headerName(256), { max: 64 }).check(aloneAndUnique('ExposeHeaders', false)).optional(),
  maxAge: int({ min: 1, max: 2 ** 31 - 1 }).default(5),
};

/** The HTTPRoute filter's `cors`. */
export const corsFilter = obj(fields);
/** A TrafficPolicy's `cors`: the same, and `disable: {}`. */
export const corsPolicy = obj({ ...fields, disable: obj({}).optional() });

/** The CorsPolicy kgateway builds from the fields (a field left empty is left out, so Envoy falls back on a less specific level's). */
export function corsSpec(c: { allowOrigins?: readonly string[]; allowCredentials?: boolean; allowMethods?: readonly string[]; allowHeaders?: readonly string[]; exposeHeaders?: readonly string[]; maxAge?: number }): CorsSpec {
  const join = (l: readonly string[] | undefined): string | undefined => (l !== undefined && l.length > 0 ? l.join(', ') : undefined);
  const methods = join(c.allowMethods);
  const allowHeaders = join(c.allowHeaders);
  const exposeHeaders = join(c.exposeHeaders);
  return {
    ...(c.allowOrigins !== undefined && c.allowOrigins.length > 0 ? { origins: c.allowOrigins.map(originMatcher) } : {}),
    ...(c.allowCredentials === true ? { allowCredentials: true } : {}),
    ...(methods !== undefined ? { allowMethods: methods } : {}),
    ...(allowHeaders !== undefined ? { allowHeaders } : {}),
    ...(exposeHeaders !== undefined ? { exposeHeaders } : {}),
    ...(c.maxAge !== undefined && c.maxAge !== 0 ? { maxAge: String(c.maxAge) } : {}),
  };
}
