// Pure helpers of the bundled echo upstream: go-httpbin's canonical header case, /bytes pattern.
import test from 'node:test';
import assert from 'node:assert/strict';
import { canonicalHeaderKey, patternBytes } from '../../src/upstream/echo.js';

test('canonicalHeaderKey follows Go textproto.CanonicalMIMEHeaderKey', () => {
  const cases: [string, string][] = [
    ['x-team', 'X-Team'],
    ['x-org', 'X-Org'],
    ['user-agent', 'User-Agent'],
    ['HOST', 'Host'],
    ['authorization', 'Authorization'],
    ['x-forwarded-for', 'X-Forwarded-For'],
    ['X-FORWARDED-PROTO', 'X-Forwarded-Proto'],
    ['content-md5', 'Content-Md5'],
    ['x_underscore-ok', 'X_underscore-Ok'],
    ['a--b', 'A--B'],
    ['with space', 'with space'],
    ['x-1abc', 'X-1abc'],
    ['', ''],
  ];
  for (const [input, want] of cases) assert.equal(canonicalHeaderKey(input), want, input);
});

test('patternBytes is deterministic and not periodic on 64 KiB chunks', () => {
  const a = patternBytes(300_000);
  assert.deepEqual(a, patternBytes(300_000));
  assert.deepEqual(a.subarray(0, 1000), patternBytes(1000));
  assert.notDeepEqual(a.subarray(0, 65536), a.subarray(65536, 131072));
});
