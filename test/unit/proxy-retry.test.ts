// The retry decisions of src/proxy/retry.ts, as Envoy's retry_state_impl.cc makes them.
import test from 'node:test';
import assert from 'node:assert/strict';
import { backoff, compileRetry, retriableAnswer, retriableFailure, retryOnString, type RetryOn } from '../../src/proxy/retry.js';

const policy = (retryOn: RetryOn[], statusCodes: number[] = []) => compileRetry({ retryOn, numRetries: 1, statusCodes, backoffBaseMs: 25 }, 't');
const head = (...pairs: string[]) => pairs.map((p) => Buffer.from(p, 'latin1'));

test('answers: 5xx, gateway-error (502-504), retriable-4xx (409) and the listed codes', () => {
  const statuses = [200, 404, 409, 500, 501, 502, 503, 504, 505, 599];
  const retried = (p: ReturnType<typeof policy>) => statuses.filter((s) => retriableAnswer(p, s, []));
  assert.deepEqual(retried(policy(['5xx'])), [500, 501, 502, 503, 504, 505, 599]);
  assert.deepEqual(retried(policy(['gateway-error'])), [502, 503, 504]);
  assert.deepEqual(retried(policy(['retriable-4xx'])), [409]);
  assert.deepEqual(retried(policy(['retriable-status-codes'], [404, 503])), [404, 503]);
  // Codes without the condition, and conditions an HTTP/1.1 upstream cannot trigger, retry nothing.
  assert.deepEqual(retried(policy(['reset', 'connect-failure', 'refused-stream', 'retriable-headers'], [503])), []);
});

test('an answer with x-envoy-ratelimited is retried only under envoy-ratelimited, whatever its status', () => {
  const limited = head('X-Envoy-RateLimited', 'true');
  assert.equal(retriableAnswer(policy(['5xx']), 503, limited), false);
  assert.equal(retriableAnswer(policy(['envoy-ratelimited']), 429, limited), true);
  assert.equal(retriableAnswer(policy(['envoy-ratelimited']), 429, []), false);
});

test("the gRPC conditions read grpc-status from the answer's head", () => {
  assert.equal(retriableAnswer(policy(['unavailable']), 200, head('grpc-status', '14')), true);
  assert.equal(retriableAnswer(policy(['unavailable']), 200, head('grpc-status', '13')), false);
  assert.equal(retriableAnswer(policy(['internal', 'cancelled']), 200, head('grpc-status', '13')), true);
  assert.equal(retriableAnswer(policy(['cancelled']), 200, head('grpc-status', '1')), true);
  assert.equal(retriableAnswer(policy(['deadline-exceeded']), 200, head('grpc-status', '4')), true);
  assert.equal(retriableAnswer(policy(['resource-exhausted']), 200, head('grpc-status', '8')), true);
  assert.equal(retriableAnswer(policy(['unavailable']), 200, head('grpc-status', 'x14')), false);
});

test('failures: reset, 5xx and gateway-error retry every one; connect-failure and reset-before-request a connection not made', () => {
  for (const c of ['reset', '5xx', 'gateway-error'] as const) {
    for (const f of ['connect', 'reset', 'per-try-timeout'] as const) assert.equal(retriableFailure(policy([c]), f), true, `${c} ${f}`);
  }
  for (const c of ['connect-failure', 'reset-before-request'] as const) {
    assert.equal(retriableFailure(policy([c]), 'connect'), true);
    assert.equal(retriableFailure(policy([c]), 'reset'), false);
    assert.equal(retriableFailure(policy([c]), 'per-try-timeout'), false);
  }
  assert.equal(retriableFailure(policy(['retriable-status-codes'], [503]), 'connect'), false);
});

test("backoff: a draw in [0, I) with I doubling from the base to 10 x base (Envoy's jittered exponential)", () => {
  const p = policy(['5xx']);
  assert.equal(p.backoffMaxMs, 250);
  let interval = p.backoffBaseMs;
  const intervals: number[] = [];
  const waits: number[] = [];
  for (let i = 0; i < 6; i++) {
    intervals.push(interval);
    const b = backoff(p, interval, 0.999);
    waits.push(b.waitMs);
    interval = b.next;
  }
  assert.deepEqual(intervals, [25, 50, 100, 200, 250, 250]);
  assert.deepEqual(waits, [24, 49, 99, 199, 249, 249]);
  assert.equal(backoff(p, 25, 0).waitMs, 0);
});

test('retry_on is written sorted and without repeats, as kgateway joins it', () => {
  assert.equal(retryOnString(['reset', '5xx', 'connect-failure', '5xx']), '5xx,connect-failure,reset');
});
