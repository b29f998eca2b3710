// node --test bench/test/ (run by .ci/run): bench/cpu.mjs's exit code, and --peer-soft-fail.
import test from 'node:test';
import assert from 'node:assert/strict';
import { cpuExitCode, softFails } from '../lib/cpu-exit.mjs';

test('bench:cpu exits 1 on unexpected answers or cache hits in a miss round, for any target by default', () => {
  assert.equal(cpuExitCode({ target: 'jwtgate' }), 0);
  assert.equal(cpuExitCode({ target: 'jwtgate', bad: 3 }), 1);
  assert.equal(cpuExitCode({ target: 'jwtgate', missHits: 1 }), 1);
  assert.equal(cpuExitCode({ target: 'haproxy', bad: 3 }), 1);
});

test('--peer-soft-fail (CI): an external reference\'s hiccup (HAProxy, nginx) is reported but exits 0; jwtgate and the bare uWS floors (this repository\'s code) still fail', () => {
  for (const target of ['haproxy', 'nginx-proxy']) {
    assert.equal(cpuExitCode({ target, peerSoftFail: true, bad: 5 }), 0, target);
    assert.equal(softFails(target, true), true);
  }
  for (const target of ['bare-uws-401', 'bare-uws-proxy-raw', 'bare-uws-proxy-undici-request', 'bare-uws-proxy-undici-dispatch']) {
    assert.equal(cpuExitCode({ target, peerSoftFail: true, bad: 5 }), 1, target);
    assert.equal(softFails(target, true), false, target);
  }
  assert.equal(cpuExitCode({ target: 'jwtgate', peerSoftFail: true, bad: 5 }), 1);
  assert.equal(cpuExitCode({ target: 'jwtgate', peerSoftFail: true, missHits: 1 }), 1);
  assert.equal(softFails('jwtgate', true), false);
  assert.equal(softFails('haproxy', false), false);
});
