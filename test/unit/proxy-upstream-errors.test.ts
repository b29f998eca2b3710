// undici failure -> catalogue code (503 unavailable, 504 timeout, 502 bad response, 500 ours).
import test from 'node:test';
import assert from 'node:assert/strict';
import { errors } from 'undici';
import { classifyUpstreamError, upstreamErrorReason } from '../../src/proxy/upstream-errors.js';

function withCode(code: string, message = 'x'): Error {
  return Object.assign(new Error(message), { code });
}

test('classification table', () => {
  const cases: [unknown, string][] = [
    [withCode('ECONNREFUSED'), 'UPSTREAM_UNAVAILABLE'],
    [withCode('ECONNRESET'), 'UPSTREAM_UNAVAILABLE'],
    [withCode('ENOTFOUND'), 'UPSTREAM_UNAVAILABLE'],
    [withCode('EAI_AGAIN'), 'UPSTREAM_UNAVAILABLE'],
    [new errors.ConnectTimeoutError(), 'UPSTREAM_UNAVAILABLE'],
    [new errors.SocketError('other side closed'), 'UPSTREAM_UNAVAILABLE'],
    [new errors.SocketError('bad response'), 'UPSTREAM_BAD_RESPONSE'],
    [new errors.SocketError('bad upgrade'), 'UPSTREAM_BAD_RESPONSE'],
    [new errors.HeadersTimeoutError(), 'UPSTREAM_TIMEOUT'],
    [new errors.BodyTimeoutError(), 'UPSTREAM_TIMEOUT'],
    [new errors.HeadersOverflowError(), 'UPSTREAM_BAD_RESPONSE'],
    [new errors.ResponseContentLengthMismatchError(), 'UPSTREAM_BAD_RESPONSE'],
    [withCode('HPE_INVALID_CONSTANT'), 'UPSTREAM_BAD_RESPONSE'],
    [withCode('HPE_INVALID_HEADER_TOKEN'), 'UPSTREAM_BAD_RESPONSE'],
    [Object.assign(new Error('Response does not match the HTTP/1.1 protocol'), { name: 'HTTPParserError' }), 'UPSTREAM_BAD_RESPONSE'],
    [new errors.InvalidArgumentError('invalid header'), 'INTERNAL'],
    [new errors.NotSupportedError('expect header not supported'), 'INTERNAL'],
    [new errors.ClientDestroyedError(), 'UPSTREAM_UNAVAILABLE'],
    [new Error('mystery'), 'UPSTREAM_UNAVAILABLE'],
    [null, 'UPSTREAM_UNAVAILABLE'],
  ];
  for (const [err, code] of cases) assert.equal(classifyUpstreamError(err), code, String((err as Error | null)?.message ?? err));
});

test('reason: code, else name, else unknown', () => {
  assert.equal(upstreamErrorReason(withCode('ECONNREFUSED')), 'ECONNREFUSED');
  assert.equal(upstreamErrorReason(new errors.HeadersTimeoutError()), 'UND_ERR_HEADERS_TIMEOUT');
  assert.equal(upstreamErrorReason(new TypeError('x')), 'TypeError');
  assert.equal(upstreamErrorReason(undefined), 'unknown');
});

test('UPSTREAM_UNAVAILABLE bodies as Envoy\'s router words each cause; a closed or reset connection keeps the catalogue body (connection termination)', async () => {
  const { upstreamUnavailableBody } = await import('../../src/proxy/upstream-errors.js');
  const e = (code: string) => Object.assign(new Error(code), { code });
  const base = 'upstream connect error or disconnect/reset before headers. reset reason: ';
  assert.equal(upstreamUnavailableBody(e('ECONNREFUSED')), `${base}remote connection failure, transport failure reason: delayed connect error: Connection refused`);
  assert.equal(upstreamUnavailableBody(e('EHOSTUNREACH')), `${base}remote connection failure, transport failure reason: delayed connect error: No route to host`);
  assert.equal(upstreamUnavailableBody(e('UND_ERR_CONNECT_TIMEOUT')), `${base}connection timeout`);
  assert.equal(upstreamUnavailableBody(e('ENETUNREACH')), `${base}remote connection failure, transport failure reason: delayed connect error: Network is unreachable`);
  assert.equal(upstreamUnavailableBody(e('ETIMEDOUT')), `${base}remote connection failure, transport failure reason: delayed connect error: Connection timed out`);
  assert.equal(upstreamUnavailableBody(e('ENOTFOUND')), 'no healthy upstream');
  // Every lookup failure, temporary or not, is a backend without an address for this request.
  for (const code of ['EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL']) assert.equal(upstreamUnavailableBody(e(code)), 'no healthy upstream', code);
  for (const code of ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']) assert.equal(upstreamUnavailableBody(e(code)), undefined, code);
  assert.equal(upstreamUnavailableBody(new Error('no code')), undefined);
  assert.equal(upstreamUnavailableBody(null), undefined);
});

/** A connect error as Node gives it to undici's handler, unwrapped (checked under `ulimit -n`). */
function connectError(code: string, errno: number, address = '127.0.0.1', port = 8000): Error {
  return Object.assign(new Error(`connect ${code} ${address}:${port} - Local (undefined:undefined)`), { code, errno, syscall: 'connect', address, port });
}

test('a connect this host could not make (EMFILE at the fd limit, …) is a local failure: 503 naming the cause, not the upstream\'s connection termination', async () => {
  const { upstreamUnavailableBody, localConnectFailure } = await import('../../src/proxy/upstream-errors.js');
  const base = 'upstream connect error or disconnect/reset before headers. reset reason: ';
  const emfile = connectError('EMFILE', -24);
  assert.equal(classifyUpstreamError(emfile), 'UPSTREAM_UNAVAILABLE');
  assert.equal(upstreamErrorReason(emfile), 'EMFILE');
  assert.equal(upstreamUnavailableBody(emfile), `${base}local connection failure, transport failure reason: socket creation failure: Too many open files`);
  assert.equal(upstreamUnavailableBody(connectError('ENFILE', -23)), `${base}local connection failure, transport failure reason: socket creation failure: Too many open files in system`);
  assert.equal(upstreamUnavailableBody(connectError('ENOBUFS', -105)), `${base}local connection failure, transport failure reason: socket creation failure: No buffer space available`);
  assert.equal(upstreamUnavailableBody(connectError('ENOMEM', -12)), `${base}local connection failure, transport failure reason: socket creation failure: Cannot allocate memory`);
  // Envoy's immediate connect error (connect(2) itself failed), without the upstream's address.
  assert.equal(upstreamUnavailableBody(connectError('EADDRNOTAVAIL', -99, '10.0.0.7', 8080)), `${base}remote connection failure, transport failure reason: immediate connect error: Cannot assign requested address`);
  // The warning's hint: what the operator raises.
  assert.match(localConnectFailure('EMFILE')!.hint, /ulimit -n.*LimitNOFILE=/);
  assert.match(localConnectFailure('EADDRNOTAVAIL')!.hint, /ip_local_port_range/);
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'toString', 'constructor', undefined, 24]) assert.equal(localConnectFailure(code), undefined, String(code));
});

test('a name that does not exist takes the endpoint out of the rotation; a temporary resolver failure (EAI_AGAIN) does not (README: a temporary failure changes nothing)', async () => {
  const { nameDoesNotResolve } = await import('../../src/proxy/upstream-errors.js');
  for (const code of ['ENOTFOUND', 'EAI_NONAME', 'EAI_FAIL']) assert.equal(nameDoesNotResolve(withCode(code)), true, code);
  for (const code of ['EAI_AGAIN', 'ECONNREFUSED', 'ETIMEDOUT']) assert.equal(nameDoesNotResolve(withCode(code)), false, code);
  assert.equal(nameDoesNotResolve(null), false);
});
