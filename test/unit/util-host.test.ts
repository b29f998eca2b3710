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
