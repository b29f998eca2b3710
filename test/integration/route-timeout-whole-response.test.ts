// The route timeout bounds the whole response, as Envoy's does: its router keeps the response
// timer armed after the upstream's head (counted from the end of the client's request) and, when
// it runs out, resets a response already started. A download that keeps sending, with no gap near
// the timeout, is cut there: the client has the head and part of the body, then a closed
// connection; the upstream's request is cut too; counted as UPSTREAM_TIMEOUT. The upstream is the
// real echo server's /drip (go-httpbin's: bytes spread over a duration, with their
// Content-Length). The gateway checks these on a 0.5 s tick, as undici checks its own timers: every
// margin below is at least 1 s. The requests run at once (in `before`), the tests read the results.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { hostRoute, routePolicy, startHarness, type Harness } from '../helpers/harness.js';
import { authExtension, withAuthServer } from '../helpers/ext-auth-server.js';

let h: Harness;
const metric = (result: string) => Number(h.gateway.renderMetrics().match(new RegExp(`jwtgate_requests_total\\{result="${result}"\\} (\\d+)`))?.[1] ?? NaN);

interface Outcome {
  status: number;
  contentLength: string | undefined;
  bytes: number;
  /** The connection closed before the declared body had all arrived. */
  cut: boolean;
}

/** A request whose body (if any) is sent in `pieces` writes spread over `bodyMs`. */
function fetchDrip(host: string, path: string, body?: { pieces: number; bodyMs: number }, port = h.port): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host };
    if (body !== undefined) headers['content-length'] = String(body.pieces);
    const req = http.request({ host: '127.0.0.1', port, path, method: body === undefined ? 'GET' : 'POST', headers, agent: false }, (res) => {
      let bytes = 0;
      let done = false;
      const finish = (cut: boolean) => {
        if (done) return;
        done = true;
        resolve({ status: res.statusCode!, contentLength: res.headers['content-length'], bytes, cut });
      };
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => finish(!res.complete));
      res.on('aborted', () => finish(true));
      res.on('error', () => finish(true));
      res.on('close', () => finish(!res.complete));
    });
    req.setTimeout(20_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    if (body === undefined) {
      req.end();
      return;
    }
    let sent = 0;
    const tick = setInterval(() => {
      req.write('x');
      if (++sent === body.pieces) {
        clearInterval(tick);
        req.end();
      }
    }, body.bodyMs / body.pieces);
  });
}

const CASES = {
  // 40 bytes over 4 s (a byte every 100 ms: no gap near the route timeout), route timeout 1 s.
  cut: ['short.example.com', '/drip?duration=4&delay=0&numbytes=40'],
  // The same route, a response that ends within it.
  within: ['short.example.com', '/drip?duration=0.2&delay=0&numbytes=40'],
  // request: 0s turns the route timeout off: a 2.5 s download is not cut.
  off: ['off.example.com', '/drip?duration=2.5&delay=0&numbytes=25'],
  // A rule with retries: the answer that is not retried is bounded the same way.
  retried: ['retried.example.com', '/drip?duration=4&delay=0&numbytes=41'],
} as const;
const res = new Map<string, Outcome>();
let timeouts = NaN;
let upstreamAborted: Record<string, boolean> = {};

before(async () => {
  h = await startHarness({
    manifests: [
      hostRoute('short', 'short.example.com', '    timeouts: { request: 1s }\n') +
        hostRoute('off', 'off.example.com', '    timeouts: { request: 0s }\n') +
        hostRoute('retried', 'retried.example.com', '    timeouts: { request: 1s }\n    retry: { attempts: 2, codes: [503], backoff: 10ms }\n') +
        hostRoute('upload', 'upload.example.com', '    timeouts: { request: 3s }\n'),
    ],
  });
  const before0 = metric('UPSTREAM_TIMEOUT');
  const names = Object.keys(CASES) as (keyof typeof CASES)[];
  const runs: Promise<Outcome>[] = names.map((n) => fetchDrip(CASES[n][0], CASES[n][1]));
  // Counted from the end of the request: its body takes 2 s (the echo server answers once it has
  // it all), then 2 s of download. 4 s after the start, but 2 s after the request's end: within 3 s.
  runs.push(fetchDrip('upload.example.com', '/drip?duration=2&delay=0&numbytes=20', { pieces: 10, bodyMs: 2000 }));
  const answers = await Promise.all(runs);
  names.forEach((n, i) => res.set(n, answers[i]!));
  res.set('upload', answers.at(-1)!);
  timeouts = metric('UPSTREAM_TIMEOUT') - before0;
  upstreamAborted = Object.fromEntries(h.echo.received.map((r) => [r.url, r.aborted]));
});
after(() => h.close());

test('a download that keeps sending past the route timeout is cut there: the head and part of the body, then a closed connection; counted as UPSTREAM_TIMEOUT, the upstream request cut too', () => {
  const r = res.get('cut')!;
  assert.equal(r.status, 200);
  assert.equal(r.contentLength, '40');
  assert.equal(r.cut, true, 'the connection closed before the declared body had all arrived');
  assert.ok(r.bytes > 0 && r.bytes < 40, `${r.bytes} of 40 body bytes arrived`);
  assert.equal(upstreamAborted[CASES.cut[1]], true, 'the upstream request was cut');
  assert.equal(timeouts, 2, 'two UPSTREAM_TIMEOUTs: this cut download and the retried route\'s, none of the others');
});

test('on a rule with retries, the answer passed on (a 200, not retried) is cut the same way', () => {
  const r = res.get('retried')!;
  assert.equal(r.status, 200);
  assert.equal(r.contentLength, '41');
  assert.equal(r.cut, true);
  assert.ok(r.bytes > 0 && r.bytes < 41, `${r.bytes} of 41 body bytes arrived`);
  assert.equal(upstreamAborted[CASES.retried[1]], true, 'the upstream request was cut');
});

test('a response that ends within the route timeout passes whole', () => {
  assert.deepEqual(res.get('within'), { status: 200, contentLength: '40', bytes: 40, cut: false });
});

test('request: 0s (no route timeout): a download longer than any bound here is not cut', () => {
  assert.deepEqual(res.get('off'), { status: 200, contentLength: '25', bytes: 25, cut: false });
});

test('the route timeout counts from the end of the client request, not its start (Envoy arms it then): a 2 s upload and a 2 s download pass a 3 s route timeout', () => {
  assert.deepEqual(res.get('upload'), { status: 200, contentLength: '20', bytes: 20, cut: false });
});

test("nor from the arrival of its head: a check that takes 2 s (an ext_authz server here) does not count, as Envoy's router arms its timer once the request is past its filters; a 2 s download passes a 3 s route timeout", async () => {
  const slowAllow = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    setTimeout(() => res.writeHead(200).end('ok'), 2000);
  };
  await withAuthServer(
    slowAllow,
    (port) => [
      authExtension('slow-auth', port, '', '      requestTimeout: 10s\n') +
        hostRoute('checked', 'checked.example.com', '    timeouts: { request: 3s }\n') +
        routePolicy('checked', 'checked', '  extAuth:\n    extensionRef: { name: slow-auth, namespace: httpbin }'),
    ],
    async (g, auth) => {
      const r = await fetchDrip('checked.example.com', '/drip?duration=2&delay=0&numbytes=20', undefined, g.port);
      assert.equal(auth.asked.length, 1, 'the check was asked');
      assert.deepEqual(r, { status: 200, contentLength: '20', bytes: 20, cut: false });
    },
  );
});
