// A DirectResponse's `bodyFormat` (newer kgateway): Envoy's direct_response `body_format`, a
// SubstitutionFormatString kgateway fills from `text` (text_format_source) or `json`
// (json_format), without omit_empty_values. Formatted for each request before the answer is
// sent, from the request as routed (header-format.ts's commands; no value is `-` in text).
// A JSON body is Envoy's struct formatter's: keys sorted by their bytes at every level, compact,
// a value that is one command keeps its type (`%RESPONSE_CODE%` a number, no value `null`), any
// other template a string, numbers, booleans and null as written, then a newline.

import type { GatewayRequest } from '../http/exchange.js';
import { formatBodyText, NUMERIC, type HeaderFormat } from './header-format.js';

/** A JSON body's template, its keys already in Envoy's order. */
export type JsonTemplate =
  | { readonly kind: 'literal'; readonly json: string }
  | { readonly kind: 'text'; readonly format: HeaderFormat }
  | { readonly kind: 'list'; readonly items: readonly JsonTemplate[] }
  | { readonly kind: 'object'; readonly entries: readonly (readonly [string, JsonTemplate])[] };

export type BodyFormat = { readonly kind: 'text'; readonly format: HeaderFormat } | { readonly kind: 'json'; readonly template: JsonTemplate };

/** The body for this request. */
export function renderBody(b: BodyFormat, req: GatewayRequest, startedAt: number): string {
  return b.kind === 'text' ? formatBodyText(b.format, req, startedAt) : `${renderJson(b.template, req, startedAt)}\n`;
}

function renderJson(t: JsonTemplate, req: GatewayRequest, startedAt: number): string {
  switch (t.kind) {
    case 'literal':
      return t.json;
    case 'list':
      return `[${t.items.map((i) => renderJson(i, req, startedAt)).join(',')}]`;
    case 'object':
      return `{${t.entries.map(([k, v]) => `${JSON.stringify(k)}:${renderJson(v, req, startedAt)}`).join(',')}}`;
    case 'text': {
      const parts = t.format.parts;
      const only = parts.length === 1 ? parts[0] : undefined;
      if (typeof only === 'function') {
        // One command: its own type (Envoy's formatValueWithContext).
        const v = only(req.headers, false, req, startedAt, 0);
        if (v === undefined) return 'null';
        return NUMERIC.has(only) ? envoyNumber(Number(v)) : JSON.stringify(v);
      }
      return JSON.stringify(formatBodyText(t.format, req, startedAt));
    }
  }
}

/** Whether the body reads `%RESPONSE_CODE%` (its one numeric command), which is 0 there. */
export function usesResponseCode(b: BodyFormat): boolean {
  const inFormat = (f: HeaderFormat) => f.parts.some((p) => typeof p === 'function' && NUMERIC.has(p));
  const inJson = (t: JsonTemplate): boolean =>
    t.kind === 'text' ? inFormat(t.format) : t.kind === 'list' ? t.items.some(inJson) : t.kind === 'object' ? t.entries.some(([, v]) => inJson(v)) : false;
  return b.kind === 'text' ? inFormat(b.format) : inJson(b.template);
}

/**
 * A number as Envoy's JSON formatter writes it (Buffer::Util::serializeDouble, std::to_chars in
 * Envoy's clang/libc++ builds): the shortest digits that read back the same, in plain or C-style
 * exponent notation (`1e+05`, `1e-07`: at least two exponent digits), whichever is shorter, plain
 * on a tie. So 200 is `200` and 1.5 `1.5` as in JavaScript, but 100000 is `1e+05`, 1e16 `1e+16`,
 * 0.00001 `1e-05` and -0 `-0`. Not finite: `null` (JSON has no such number).
 */
export function envoyNumber(x: number): string {
  if (!Number.isFinite(x)) return 'null';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  // toExponential() without digits gives the shortest round-trip digits, as to_chars does.
  const [mantissa, exp] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  const e = Number(exp);
  const scientific = `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  let plain: string;
  if (e >= digits.length - 1) plain = digits + '0'.repeat(e - digits.length + 1);
  else if (e >= 0) plain = `${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
  else plain = `0.${'0'.repeat(-e - 1)}${digits}`;
  return sign + (scientific.length < plain.length ? scientific : plain);
}
