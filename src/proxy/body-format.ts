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
        return NUMERIC.has(only) ? String(Number(v)) : JSON.stringify(v);
      }
      return JSON.stringify(formatBodyText(t.format, req, startedAt));
    }
  }
}

/** Envoy's key order: by the keys' UTF-8 bytes. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
