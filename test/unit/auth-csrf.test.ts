// Envoy's csrf filter checks (csrf_filter.cc): hostAndPort of an Origin or Referer, the methods
// checked, the Host compared byte for byte, additional origins, and the enforced percentage.
import test from 'node:test';
import assert from 'node:assert/strict';
import { csrfDenies, hostAndPort, type CsrfSpec } from '../../src/auth/csrf.js';
import type { GatewayRequest } from '../../src/http/exchange.js';

const req = (method: string, headers: string[], authority = 'app.example.com'): GatewayRequest => ({ method, path: '/', query: '', host: authority.split(':')[0]!, authority, headers, remoteAddress: '', scheme: 'http' });
const on: CsrfSpec = { enabledPercent: 100, additionalOrigins: [] };

test('hostAndPort: the authority of an absolute URL as written, else the value itself', () => {
  assert.equal(hostAndPort('https://a.com'), 'a.com');
  assert.equal(hostAndPort('http://a.com:8080/x?y'), 'a.com:8080');
  assert.equal(hostAndPort('https://a.com:443'), 'a.com:443');
  assert.equal(hostAndPort('https://user:pw@a.com/'), 'a.com');
  assert.equal(hostAndPort('http://[::1]:8080/'), '[::1]:8080');
  assert.equal(hostAndPort('a.com'), 'a.com');
  assert.equal(hostAndPort('null'), 'null');
  assert.equal(hostAndPort(''), '');
  // What http_parser refuses is used as it is: an empty port, a port over 65535, a scheme that is not letters.
  assert.equal(hostAndPort('http://a.com:'), 'http://a.com:');
  assert.equal(hostAndPort('http://a.com:/x'), 'http://a.com:/x');
  assert.equal(hostAndPort('http://a.com:99999'), 'http://a.com:99999');
  assert.equal(hostAndPort('http://a.com:65535'), 'a.com:65535');
  assert.equal(hostAndPort('h2://a.com'), 'h2://a.com');
  assert.equal(hostAndPort('HTTPS://A.com'), 'A.com');
});

test('an empty Origin falls back to the Referer; neither: denied', () => {
  assert.equal(csrfDenies(on, req('POST', [])), true);
  assert.equal(csrfDenies(on, req('POST', ['origin', '', 'referer', 'https://app.example.com/x'])), false);
  // Origin and Referer are inline headers in Envoy: repeated fields are joined with `,` (empty ones
  // skipped), and the joined value is no URL, so it never equals the Host.
  assert.equal(csrfDenies(on, req('POST', ['origin', 'https://app.example.com', 'origin', 'https://evil.net'])), true);
  assert.equal(csrfDenies(on, req('POST', ['origin', '', 'origin', 'https://app.example.com', 'referer', 'https://evil.net/'])), false);
});

test('methods: POST, PUT, DELETE, PATCH (exact case)', () => {
  for (const m of ['POST', 'PUT', 'DELETE', 'PATCH']) assert.equal(csrfDenies(on, req(m, [])), true, m);
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'CONNECT', 'post']) assert.equal(csrfDenies(on, req(m, [])), false, m);
});

test('the enforced percentage: 0 never, 100 always', () => {
  assert.equal(csrfDenies({ enabledPercent: 0, additionalOrigins: [] }, req('POST', [])), false);
  assert.equal(csrfDenies({ enabledPercent: 0, shadowPercent: 100, additionalOrigins: [] }, req('POST', [])), false);
});

test('a Host with an empty port is no URL either: it never equals an Origin', () => {
  assert.equal(csrfDenies(on, req('POST', ['origin', 'http://app.example.com'], 'app.example.com:')), true);
  assert.equal(csrfDenies(on, req('POST', ['origin', 'http://app.example.com:'], 'app.example.com')), true);
});

test('ignoreCase folds ASCII only, as Envoy (the Kelvin sign is not a k)', () => {
  const spec: CsrfSpec = { enabledPercent: 100, additionalOrigins: [{ kind: 'exact', value: 'k.example.com', ignoreCase: true }] };
  assert.equal(csrfDenies(spec, req('POST', ['origin', 'https://K.EXAMPLE.com'])), false);
  assert.equal(csrfDenies(spec, req('POST', ['origin', 'https://\u212a.example.com'])), true);
  // An Origin that is no URL is compared as it is: folded as ASCII, the Kelvin sign stays.
  assert.equal(csrfDenies(spec, req('POST', ['origin', '\u212a.example.com'])), true);
  assert.equal(csrfDenies(spec, req('POST', ['origin', 'K.example.com'])), false);
});

test('additional origins: prefix, contains, ignoreCase (the matcher value is held lowercased)', () => {
  const spec: CsrfSpec = { enabledPercent: 100, additionalOrigins: [{ kind: 'prefix', value: 'admin.', ignoreCase: false }, { kind: 'contains', value: 'partner', ignoreCase: true }] };
  assert.equal(csrfDenies(spec, req('POST', ['origin', 'https://admin.example.com'])), false);
  assert.equal(csrfDenies(spec, req('POST', ['origin', 'https://Admin.example.com'])), true);
  assert.equal(csrfDenies(spec, req('POST', ['origin', 'https://my-PARTNER.net'])), false);
});

test('matchers are anchored as Envoy\'s: a prefix at the start, a suffix at the end; a missing source is refused before any matcher (an empty prefix matches nothing then)', () => {
  const spec: CsrfSpec = { enabledPercent: 100, additionalOrigins: [{ kind: 'prefix', value: 'admin.', ignoreCase: false }, { kind: 'suffix', value: '.trusted.example.com', ignoreCase: false }] };
  assert.equal(csrfDenies(spec, req('POST', ['origin', 'https://notadmin.example.com'])), true);
  assert.equal(csrfDenies(spec, req('POST', ['origin', 'https://x.trusted.example.com.evil.net'])), true);
  assert.equal(csrfDenies(spec, req('POST', ['origin', 'https://x.trusted.example.com'])), false);
  const any: CsrfSpec = { enabledPercent: 100, additionalOrigins: [{ kind: 'prefix', value: '', ignoreCase: false }] };
  assert.equal(csrfDenies(any, req('POST', ['origin', 'https://evil.net'])), false);
  assert.equal(csrfDenies(any, req('POST', [])), true);
});

test('a percentage between 0 and 100 is drawn per request', () => {
  const half: CsrfSpec = { enabledPercent: 50, additionalOrigins: [] };
  let denied = 0;
  for (let i = 0; i < 400; i++) if (csrfDenies(half, req('POST', []))) denied++;
  // 400 draws at 50%: outside 100-300 has a probability below 1e-23.
  assert.ok(denied > 100 && denied < 300, String(denied));
});
