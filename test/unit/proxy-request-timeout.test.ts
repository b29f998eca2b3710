// The bound the Forwarder sets on a request of a route with its own timeouts (undici's
// headersTimeout and bodyTimeout): the shorter of the route timeout and the stream idle timeout,
// and which of the two it is (the code its expiry answers with).
import test from 'node:test';
import assert from 'node:assert/strict';
import { requestTimeout } from '../../src/proxy/forwarder.js';

test('the route timeout, its own or the default; a shorter stream idle timeout instead', () => {
  assert.deepEqual(requestTimeout({ requestMs: 2000, origins: [] }, 15000), { ms: 2000, idle: false });
  assert.deepEqual(requestTimeout({ idleMs: 30000, origins: [] }, 15000), { ms: 15000, idle: false });
  assert.deepEqual(requestTimeout({ idleMs: 300, origins: [] }, 15000), { ms: 300, idle: true });
  assert.deepEqual(requestTimeout({ requestMs: 500, idleMs: 500, origins: [] }, 15000), { ms: 500, idle: false });
});

test('a route timeout of 0s: the stream idle timeout bounds it, Envoy\'s 5 minutes when the route sets none; streamIdle 0s too: no bound', () => {
  assert.deepEqual(requestTimeout({ requestMs: 0, origins: [] }, 15000), { ms: 300_000, idle: true });
  assert.deepEqual(requestTimeout({ requestMs: 0, idleMs: 60000, origins: [] }, 15000), { ms: 60000, idle: true });
  assert.deepEqual(requestTimeout({ requestMs: 0, idleMs: 0, origins: [] }, 15000), { ms: 0, idle: false });
  // A stream idle timeout of 0s with a route timeout: the route timeout.
  assert.deepEqual(requestTimeout({ requestMs: 2000, idleMs: 0, origins: [] }, 15000), { ms: 2000, idle: false });
});
