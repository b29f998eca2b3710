// hostKind: one decision for `check`'s Backend host warning and for the forwarder (which builds a
// connection pool only for an IP literal or a DNS name).
import test from 'node:test';
import assert from 'node:assert/strict';
import { hostKind, redactUserinfo } from '../../src/util/host.js';

test('hostKind: IP literals, DNS names, and hosts that never have an address', () => {
  for (const h of ['127.0.0.1', '10.0.0.7', '::1', '2001:db8::1']) assert.equal(hostKind(h), 'ip', h);
  for (const h of ['localhost', 'httpbin.httpbin.svc.cluster.local', 'idp.example.com.', 'My-Host', 'under_score.internal', 'a.b.c9']) assert.equal(hostKind(h), 'name', h);
  for (const h of ['127.0.0.1:8080', 'a b', 'x/y', 'x@127.0.0.1', '[::1]', 'fe80::1%eth0', '999.1.1.1', '1.2.3', '0x7f000001', 'bücher.de', '', 'a..b', '-a.example.com']) {
    assert.equal(hostKind(h), undefined, h);
  }
});

test('redactUserinfo: everything up to the last @ becomes redacted (a password may hold an @); a host without one is kept', () => {
  assert.equal(redactUserinfo('user:secret@example.com'), 'redacted@example.com');
  assert.equal(redactUserinfo('user:p@ss@example.com'), 'redacted@example.com');
  assert.equal(redactUserinfo('TOKEN@10.0.0.1'), 'redacted@10.0.0.1');
  assert.equal(redactUserinfo('api.example.com'), 'api.example.com');
  assert.equal(redactUserinfo('127.0.0.1:8080'), '127.0.0.1:8080');
});

test('hostKind: DNS limits are exact (63-character labels, 253 characters in all, a final dot not counted); a bare 0x is a number', () => {
  const label = (n: number) => 'a'.repeat(n);
  assert.equal(hostKind(`${label(63)}.example`), 'name');
  assert.equal(hostKind(`${label(64)}.example`), undefined);
  const name253 = [label(63), label(63), label(63), label(61)].join('.');
  assert.equal(name253.length, 253);
  assert.equal(hostKind(name253), 'name');
  assert.equal(hostKind(`${name253}.`), 'name', 'the final dot is not counted');
  assert.equal(hostKind(`${name253}b`), undefined);
  assert.equal(hostKind('a.0x'), undefined, 'a URL parser reads 0x as the number 0');
  assert.equal(hostKind('a.0xg'), 'name');
});
