// isValidReferer against Envoy's own parser: test/fixtures/referer/envoy-referer-oracle.c is
// Envoy's Referer check over the system's http_parser (Debian's libhttp-parser-dev, which .ci/run
// installs), compiled here, and both judge the same generated values. Debian builds http_parser
// non-strict, Envoy strict: the few characters the two builds treat differently (tab, form feed,
// `_` in a host, non-ASCII) are left out of the generated values, and the fixed cases in
// http-referer.test.ts pin the strict behaviour for them.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isValidReferer } from '../../src/http/referer.js';
import { fixturesDir } from '../helpers/paths.js';

const HEADER = '/usr/include/http_parser.h';
const haveCompiler = spawnSync('cc', ['--version']).status === 0;
const skip = !existsSync(HEADER) || !haveCompiler ? `needs a C compiler and ${HEADER} (apt-get install libhttp-parser-dev)` : false;

/**
 * Deterministic values: URLs assembled from good and bad variants of each part (scheme, userinfo,
 * host, port, path, query, fragment), then 0–2 random characters inserted, replaced or deleted;
 * and as many free strings of URL pieces and single characters.
 */
function generate(count: number, seed: number): string[] {
  let s = seed >>> 0;
  // xorshift32: every bit varies (an LCG's low bits would repeat with a short period).
  const next = (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
  const pick = (list: readonly string[]) => list[next(list.length)]!;
  const chars = 'abcXYZ019:/?#@[].-~%!$&\'()*+,;= "<>\\^`{|}';
  // Each part: variants Envoy keeps, then variants it removes (picked one time in eight).
  const parts: [string[], string[]][] = [
    [['http', 'https', 'HTTP', 'ws', 'h'], ['', 'h2', 'ht-tp']],
    [['://'], [':/', ':', '//', ':///']],
    [['', '', '@'], ['user@', 'user:pw@', 'a@b@', 'us%41er@', 'u;s=r@']],
    [['example.com', 'a.b-c.d', 'a', '1.2.3.4', '[::1]', '[2001:db8::1]', '[::ffff:1.2.3.4]', 'A9'], ['[1:2]', '[::1', '[]', '[zz::1]', '', 'exa mple.com', 'ex!ample', 'a..b:']],
    [['', ':8080', ':0', ':65535'], [':65536', ':', ':8a', ':99999999999']],
    [['', '/', '/a/b', '/a:b', '/%zz', '/a"b', '/*', '/~x', '/a{b}'], ['/a b', '/a\\b c']],
    [['', '?x=1', '?', '?a?b', '?a"'], ['?a b']],
    [['', '#'], ['#top', '##', '#a?b']],
  ];
  const pieces = ['http', ':', '//', '/', '?', '#', '@', '[', ']', '::1', 'example.com', ':8080', 'user', '%41', 'x=1', ' ', '.', '*', 'about', 'Z'];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let v = '';
    if (next(2) === 0) {
      for (const [good, bad] of parts) v += pick(next(8) === 0 ? bad : good);
      for (let m = next(3); m > 0 && v.length > 0; m--) {
        const at = next(v.length);
        const op = next(3);
        v = op === 0 ? v.slice(0, at) + chars[next(chars.length)]! + v.slice(at) : op === 1 ? v.slice(0, at) + chars[next(chars.length)]! + v.slice(at + 1) : v.slice(0, at) + v.slice(at + 1);
      }
    } else {
      for (let k = 1 + next(8); k > 0; k--) v += next(3) === 0 ? chars[next(chars.length)]! : pick(pieces);
    }
    out.push(v);
  }
  return out;
}

test('isValidReferer agrees with Envoy\'s check over http_parser itself on 60,000 generated values and the fixed cases', { skip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'referer-oracle-'));
  try {
    const bin = path.join(dir, 'oracle');
    const cc = spawnSync('cc', ['-O1', '-o', bin, path.join(fixturesDir, 'referer', 'envoy-referer-oracle.c'), '-lhttp_parser'], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    const fixed = ['http://www.example.com', 'http://www.example.com/foo?bar=xyz', '/resource.html', 'resource.html', 'foo/bar/resource.html', 'mal  formed/path/resource.html', 'htp:/www.malformed.com', 'http://www.example.com/?foo=bar#fragment', 'foo=bar#fragment', 'about:blank', 'http://[1:2]/', 'http://example.com/#', 'http://@example.com/', ''];
    const values = [...fixed, ...generate(30_000, 1), ...generate(30_000, 7)];
    const run = spawnSync(bin, { input: `${values.join('\n')}\n`, encoding: 'utf8', maxBuffer: 1 << 24 });
    assert.equal(run.status, 0, run.stderr);
    const oracle = run.stdout.split('\n');
    let kept = 0;
    const differ: string[] = [];
    for (let i = 0; i < values.length; i++) {
      const envoy = oracle[i] === '1';
      if (envoy) kept++;
      // A zone id in brackets: Node's isIPv6 takes `%zone`, inet_pton does not (not pinned either way).
      if (envoy !== isValidReferer(values[i]!) && !/\[[^\]]*%/.test(values[i]!)) differ.push(`${JSON.stringify(values[i])}: Envoy ${envoy ? 'keeps' : 'removes'} it`);
    }
    assert.deepEqual(differ.slice(0, 10), []);
    // Both outcomes are well represented, so agreement is not a one-sided accident; and many
    // values are kept as absolute URLs (what http_parser decides), not only as relative ones.
    assert.ok(kept > values.length * 0.05 && kept < values.length * 0.95, `kept ${kept} of ${values.length}`);
    const absolute = values.filter((v, i) => oracle[i] === '1' && /^[a-zA-Z]+:\/\//.test(v)).length;
    assert.ok(absolute > values.length * 0.05, `kept as absolute URLs: ${absolute}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
