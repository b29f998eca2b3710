// Envoy's path normalization as kgateway configures the HCM (normalize_path + merge_slashes,
// escaped slashes kept): the cases of Envoy's own path_utility_test.cc, plus the bypass shapes.
import test from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath } from '../../src/http/path-normalize.js';

const same = (p: string) => [p, p] as const;

test('already normal paths are returned as they are', () => {
  for (const [i, o] of [same('/xyz'), same('/x/y/z'), same('/'), same('/a.json'), same('/a/.hidden'), same('/a/..b'), same('/a/~x'), same('/A/B/C'), same('/a;b=c/d')]) {
    assert.equal(normalizePath(i), o, i);
  }
});

test("Envoy's canonicalPath cases (path_utility_test.cc NormalizeValidPaths / NormalizeCasePath)", () => {
  const cases: [string, string][] = [
    ['/a/b/../c', '/a/c'],
    ['/a/b/./c', '/a/b/c'],
    ['a/b/../c', '/a/c'],
    ['/a/b/../../../../c', '/c'],
    ['/a/..\\c', '/c'],
    ['/%c0%af', '/%c0%af'],
    ['/%5c%25', '/%5c%25'],
    ['/a/b/%2E%2E/c', '/a/c'],
    ['/a/b/%2E./c', '/a/c'],
    ['/a/b/%2E/c', '/a/b/c'],
    ['..', '/'],
    ['/../a/b', '/a/b'],
    ['/./a/b', '/a/b'],
    ['/a/b/%2e%2e/c', '/a/c'],
    ['/a/%2F%2f/c', '/a/%2F%2f/c'],
    // A final '.' segment (literal or %2E) is the current directory: dropped, the '/' before it kept.
    ['/a/b/.', '/a/b/'],
    ['/a/b/%2e', '/a/b/'],
    ['/admin/%2E', '/admin/'],
  ];
  for (const [i, o] of cases) assert.equal(normalizePath(i), o, i);
});

test('merge_slashes after canonicalization', () => {
  for (const [i, o] of [['/a//b/c', '/a/b/c'], ['//a/b/c', '/a/b/c'], ['/a/b/c//', '/a/b/c/'], ['/a////b/c', '/a/b/c'], ['/a/%2e//b', '/a/b']] as const) {
    assert.equal(normalizePath(i), o, i);
  }
});

test('escapes: unreserved ones decoded, others kept as sent, disallowed characters escaped, non-ASCII escaped per UTF-8 byte', () => {
  assert.equal(normalizePath('/a%41b%7e'), '/aAb~');
  assert.equal(normalizePath('/a%21b'), '/a%21b');
  assert.equal(normalizePath('/a b"<>`{|}^'), '/a%20b%22%3C%3E%60%7B%7C%7D%5E');
  assert.equal(normalizePath('/é'), '/%C3%A9');
  assert.equal(normalizePath('/a%zz'), '/a%zz', 'an invalid escape is kept');
  assert.equal(normalizePath('/%%30%30'), '/%2500', 'a nested escape cannot turn into %00');
});

test('refused (Envoy answers 400): %00 anywhere, a fragment', () => {
  for (const p of ['/xyz/.%00../abc', '/xyz/%00.%00./abc', '/xyz/AAAAA%%0000/abc', '/a%00', '/admin#frag', '/#', '/a\0b', '/%41\0']) {
    assert.equal(normalizePath(p), undefined, p);
  }
});

test('every path that names /admin through dot segments, escapes, backslashes or doubled slashes becomes /admin', () => {
  for (const p of ['//admin', '/./admin', '/x/../admin', '/%2e/admin', '/x/%2E%2E/admin', '/x\\..\\admin', '/public/..%2fadmin'.replace('%2f', '/'), '///admin', '/%61dmin', '/x/.%2e/admin']) {
    assert.equal(normalizePath(p), '/admin', p);
  }
  assert.equal(normalizePath('/x/..%2Fadmin'), '/x/..%2Fadmin', '%2F stays a character of the segment (escaped slashes kept)');
});

test("parameters stripped from dot segments first, as Envoy 1.38.4 (CVE-2026-73551): '/public/..;/admin' is /admin, not a /public path a Tomcat upstream serves as /admin", () => {
  // Envoy's path_utility_test.cc cases.
  for (const [i, o] of [['/xyz/..;foo=bar/abc', '/abc'], ['/..;foo=bar/abc', '/abc'], ['/xyz/..;foo=bar', '/'], ['/xyz/.;foo=bar/abc', '/xyz/abc']] as const) {
    assert.equal(normalizePath(i), o, i);
  }
  for (const p of ['/public/..;/admin', '/public/..;x=1/admin', '/public/.;/../admin', '/a/b/..;/..;/admin']) assert.equal(normalizePath(p), '/admin', p);
  // Only a segment that starts with the dots, and only literal dots, as Envoy.
  assert.equal(normalizePath('/a/x..;/b'), '/a/x..;/b');
  assert.equal(normalizePath('/a;b=c/d'), '/a;b=c/d');
  assert.equal(normalizePath('/public/%2e%2e;/admin'), '/public/..;/admin', 'an escaped dot-dot with parameters is a name in Envoy too');
});
