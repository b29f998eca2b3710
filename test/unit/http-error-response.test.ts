import test from 'node:test';
import assert from 'node:assert/strict';
import { realmFor, wwwAuthenticateFor } from '../../src/http/error-response.js';
import type { GatewayRequest } from '../../src/http/exchange.js';

const req = (path: string, query = ''): GatewayRequest => ({ method: 'GET', path, query, host: 'h', authority: 'h:8080', headers: [], remoteAddress: '', scheme: 'http' });

test('realm: scheme, authority as sent, path and query', () => {
  assert.equal(realmFor(req('/headers')), 'http://h:8080/headers');
  assert.equal(realmFor(req('/a', 'x=1&y=2')), 'http://h:8080/a?x=1&y=2');
  assert.equal(wwwAuthenticateFor('JWT_MISSING', req('/a')), 'Bearer realm="http://h:8080/a"');
  assert.equal(wwwAuthenticateFor('BASIC_AUTH_DENIED', req('/a')), 'Basic realm="http://h:8080/a"');
  assert.equal(wwwAuthenticateFor('API_KEY_MISSING', req('/a')), undefined);
  assert.equal(wwwAuthenticateFor('JWT_EXPIRED', req('/a')), 'Bearer realm="http://h:8080/a", error="invalid_token"');
});

test('realm: path and query truncated to 256 UTF-8 bytes (Envoy buildOriginalUri), multibyte paths counted in bytes', () => {
  const long = '/' + 'a'.repeat(299);
  assert.equal(realmFor(req(long)), `http://h:8080${long.slice(0, 256)}`);
  const bytes = (s: string) => Buffer.byteLength(s.slice('http://h:8080'.length));
  // 85 two-byte characters (170 bytes) are kept whole; 86 three-byte ones (258 bytes) are cut.
  assert.equal(realmFor(req('/' + 'é'.repeat(84))), `http://h:8080/${'é'.repeat(84)}`);
  assert.ok(bytes(realmFor(req('/' + '€'.repeat(86)))) <= 256 + 2, 'cut at 256 bytes (a split character decodes as U+FFFD)');
  assert.ok(realmFor(req('/' + '€'.repeat(86))).length < 'http://h:8080/'.length + 86);
  assert.equal(realmFor(req('/p', 'q='.padEnd(300, 'z'))).length, 'http://h:8080'.length + 256);
});
