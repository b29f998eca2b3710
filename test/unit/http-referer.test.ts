// Envoy's Referer check (Http::Utility::isValidRefererValue over http_parser's strict URL parser):
// which values its connection manager keeps and which it removes before routing.
import test from 'node:test';
import assert from 'node:assert/strict';
import { isValidReferer } from '../../src/http/referer.js';

test('Envoy\'s own cases: absolute URLs and relative references kept; spaces, a bad scheme and fragments removed', () => {
  for (const v of ['http://www.example.com', 'http://www.example.com/foo?bar=xyz', '/resource.html', 'resource.html', 'foo/bar/resource.html']) assert.equal(isValidReferer(v), true, v);
  for (const v of ['mal  formed/path/resource.html', 'htp:/www.malformed.com', 'http://www.example.com/?foo=bar#fragment', 'foo=bar#fragment']) assert.equal(isValidReferer(v), false, v);
});

test('absolute URLs: scheme, host, port and path as http_parser reads them', () => {
  const kept = [
    'HTTPS://EXAMPLE.COM:443/a/b;c?d=e&f=g/h?i',
    'http://example.com:65535/',
    'http://example.com:0',
    'http://example.com?q',
    'http://a.b-c.d/%zz', // http_parser does not check pct-encoding
    'http://[::1]:8080/x',
    'http://[2001:db8::1]/',
    'http://[::ffff:1.2.3.4]:1/',
    'http://example.com/#', // `#` with nothing after it sets no fragment field
    'http://@example.com/', // an `@` with no userinfo before it
    'ws://example.com/', // any alphabetic scheme
    '*',
    '',
  ];
  for (const v of kept) assert.equal(isValidReferer(v), true, JSON.stringify(v));
  const removed = [
    'http://user:pw@example.com/', // userinfo
    'http://user@example.com/',
    'http://example.com/#top',
    'http://example.com/?a#b',
    'http://example.com:65536/', // port above 65535
    'http://example.com:99999999999999999999/',
    'http://example.com:/', // empty port
    'http://example.com:8a/',
    'http:///x', // a scheme with no host, and `:` in the first segment of the relative reading
    'http://',
    'http://exa mple.com/',
    'http://ex_ample.com/', // `_` is no host character in the strict build, and the relative reading has `:`
    'http://_a.example.com/',
    'http://[zz::1]/', // brackets holding no IPv6 address
    'http://[1:2]/', // characters http_parser lets through in brackets, but no address (Envoy's own check)
    'http://[::1::2]/',
    'http://[1.2.3.4]/',
    'http://[::1/',
    'http://[]/',
    'http://a@b@c/',
    'http://a@/',
    'http://example.com/\u00e9', // non-ASCII
    'http://example.com/a\tb',
    'about:blank', // Envoy's documented quirk: a scheme without `//` is not absolute, and `:` comes before any `/`
    'mailto:x@example.com',
    'http:example.com',
    'a:b/c',
  ];
  for (const v of removed) assert.equal(isValidReferer(v), false, JSON.stringify(v));
});

test('relative references: RFC 3986 query characters, `:` only after the first `/`', () => {
  for (const v of ['/a:b', 'a/b:c', '//cdn.example.com/x', "a-._~%!$&'()*+,;=@/?:", '?x=1', 'A0']) assert.equal(isValidReferer(v), true, v);
  for (const v of ['a b', 'a#b', '#', 'a"b', 'a<b', 'a>b', 'a[b', 'a]b', 'a\\b', 'a^b', 'a`b', 'a{b', 'a|b', 'a}b', 'a\u00e9', 'x:']) assert.equal(isValidReferer(v), false, JSON.stringify(v));
});
