// The floor of the proxy path: a bare uWebSockets.js app (the same native binary jwtgate loads)
// that checks no token and forwards every GET to the upstream over keep-alive connections, with
// one of three HTTP/1.1 clients:
//   --client undici-request   undici 7 Pool.request (the issue's "bare uWS + undici" reference)
//   --client undici-dispatch  undici 7 Pool.dispatch with a minimal callback handler (jwtgate's way)
//   --client raw              a minimal client on node:net sockets: one request string per
//                             request, responses framed by Content-Length only (enough for the
//                             bench upstream, not a general client)
// It copies the request headers, adds x-forwarded-for, and answers with the upstream's status,
// content-type and body. What jwtgate spends per cache-hit request above the first two is its own
// work; what the raw client saves is what any client leaner than undici could at most save.
// Two options measure what jwtgate's design does not do (what the floors would be if it did):
//   --threads N        N uWS apps in N threads of the one process, each with its own client and
//                      a share of the connections, on one port (SO_REUSEPORT: the kernel spreads
//                      the client connections), as HAProxy's threads and nginx's workers do
//   --verify-jwks F    checks every request's bearer token on its own thread (no result cache):
//                      RS256/ES256 signature against F's keys, then exp, iss, aud; forwards the
//                      team and org claims as x-team/x-org; 401 otherwise: HAProxy's work per
//                      request, with neither a hand-off nor jwtgate's policy
// Used by bench/cpu.mjs --target bare-uws-proxy-<client> [--threads N] [--bare-verify], not by
// the harness's peers.
//   node bench/peers/uws-proxy.mjs --upstream-port N [--port N] [--client raw] [--threads N]
//                                  [--verify-jwks FILE]            prints "listening <port>"
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { listen, loadBareUws, root } from './bare-uws.mjs';
import { AUDIENCE, ISSUER } from '../lib/keys.mjs';
import { freePort } from '../lib/proc.mjs';

// A thread other than the first gets the first's options, with the port it listened on.
const { values } = isMainThread ? parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'upstream-port': { type: 'string' },
    client: { type: 'string', default: 'undici-dispatch' },
    connections: { type: 'string', default: '64' },
    threads: { type: 'string', default: '1' },
    'verify-jwks': { type: 'string' },
  },
}) : { values: workerData };
const CLIENTS = ['undici-request', 'undici-dispatch', 'raw'];
if (!CLIENTS.includes(values.client)) {
  console.error(`--client must be one of ${CLIENTS.join(', ')}`);
  process.exit(2);
}
if (!values['upstream-port']) {
  console.error('--upstream-port is required');
  process.exit(2);
}
const threads = Number(values.threads);
if (!(Number.isInteger(threads) && threads >= 1)) {
  console.error('--threads must be a whole number of at least 1');
  process.exit(2);
}
const upstreamPort = Number(values['upstream-port']);
const maxConnections = Math.ceil(Number(values.connections) / threads);
const uws = await loadBareUws();

/** send(path, headers as [name, value, ...], done(status, contentType, body)) for each client. */
function makeClient(kind) {
  if (kind === 'raw') return rawClient();
  const { Pool } = createRequire(path.join(root, 'package.json'))('undici');
  const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: maxConnections });
  if (kind === 'undici-request') {
    return (p, headers, done) => {
      pool.request({ method: 'GET', path: p, headers }).then(
        async (r) => done(r.statusCode, r.headers['content-type'] ?? '', Buffer.from(await r.body.arrayBuffer())),
        () => done(502, 'text/plain', Buffer.from('upstream error')),
      );
    };
  }
  return (p, headers, done) => {
    let status = 0;
    let ctype = '';
    const chunks = [];
    pool.dispatch(
      { method: 'GET', path: p, headers },
      {
        onConnect() {},
        onHeaders(s, raw) {
          status = s;
          for (let i = 0; i < raw.length; i += 2) {
            if (raw[i].length === 12 && raw[i].toString('latin1').toLowerCase() === 'content-type') ctype = raw[i + 1].toString('latin1');
          }
          return true;
        },
        onData(c) {
          chunks.push(c);
          return true;
        },
        onComplete() {
          done(status, ctype, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
        },
        onError() {
          done(502, 'text/plain', Buffer.from('upstream error'));
        },
      },
    );
  };
}

function rawClient() {
  const idle = [];
  const queue = [];
  let open = 0;
  const hostLine = `host: 127.0.0.1:${upstreamPort}\r\n`;
  function connect() {
    open++;
    const sock = net.connect(upstreamPort, '127.0.0.1');
    sock.setNoDelay(true);
    const c = { sock, done: null, buf: null, headEnd: -1, need: 0, status: 0, ctype: '' };
    sock.on('data', (chunk) => onData(c, chunk));
    const fail = () => {
      open--;
      const d = c.done;
      c.done = null;
      const i = idle.indexOf(c);
      if (i >= 0) idle.splice(i, 1);
      if (d) d(502, 'text/plain', Buffer.from('upstream error'));
    };
    sock.on('error', () => {});
    sock.on('close', fail);
    return c;
  }
  function onData(c, chunk) {
    c.buf = c.buf ? Buffer.concat([c.buf, chunk]) : chunk;
    if (c.headEnd < 0) {
      const end = c.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      c.headEnd = end + 4;
      const head = c.buf.toString('latin1', 0, end);
      c.status = Number(head.slice(9, 12));
      c.need = 0;
      c.ctype = '';
      for (const line of head.split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).toLowerCase();
        if (name === 'content-length') c.need = Number(line.slice(colon + 1));
        else if (name === 'content-type') c.ctype = line.slice(colon + 1).trim();
      }
    }
    if (c.buf.length < c.headEnd + c.need) return;
    const body = c.buf.subarray(c.headEnd, c.headEnd + c.need);
    const done = c.done;
    c.buf = null;
    c.headEnd = -1;
    c.done = null;
    done(c.status, c.ctype, body);
    const next = queue.shift();
    if (next) start(c, next);
    else idle.push(c);
  }
  function start(c, [p, headers, done]) {
    c.done = done;
    let s = `GET ${p} HTTP/1.1\r\n${hostLine}`;
    for (let i = 0; i < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}\r\n`;
    c.sock.write(s + '\r\n', 'latin1');
  }
  return (p, headers, done) => {
    const c = idle.pop() ?? (open < maxConnections ? connect() : undefined);
    if (c) start(c, [p, headers, done]);
    else queue.push([p, headers, done]);
  };
}

/** kid -> { alg, key } from a JWKS file; null without --verify-jwks. */
function loadKeys(file) {
  if (!file) return null;
  const keys = new Map();
  for (const jwk of JSON.parse(readFileSync(file, 'utf8')).keys) {
    keys.set(jwk.kid, { alg: jwk.alg, key: crypto.createPublicKey({ key: jwk, format: 'jwk' }) });
  }
  return keys;
}

/** The token's claims when its signature, exp, iss and aud check out; null otherwise. */
function verify(keys, authorization) {
  if (!authorization.startsWith('Bearer ')) return null;
  const token = authorization.slice(7);
  const d1 = token.indexOf('.');
  const d2 = token.indexOf('.', d1 + 1);
  if (d1 < 0 || d2 < 0) return null;
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, d1), 'base64url').toString());
    const k = keys.get(header.kid);
    if (!k || k.alg !== header.alg) return null;
    const input = Buffer.from(token.slice(0, d2), 'latin1');
    const sig = Buffer.from(token.slice(d2 + 1), 'base64url');
    const ok = k.alg === 'ES256'
      ? crypto.verify('sha256', input, { key: k.key, dsaEncoding: 'ieee-p1363' }, sig)
      : crypto.verify('sha256', input, k.key, sig);
    if (!ok) return null;
    const claims = JSON.parse(Buffer.from(token.slice(d1 + 1, d2), 'base64url').toString());
    if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) return null;
    if (claims.iss !== ISSUER) return null;
    if (claims.aud !== AUDIENCE && !(Array.isArray(claims.aud) && claims.aud.includes(AUDIENCE))) return null;
    return claims;
  } catch {
    return null;
  }
}

const keys = loadKeys(values['verify-jwks']);
const send = makeClient(values.client);
const STATUS = { 200: '200 OK', 401: '401 Unauthorized', 502: '502 Bad Gateway' };
const app = uws.App();
app.get('/*', (res, req) => {
  const q = req.getQuery();
  const p = q ? `${req.getUrl()}?${q}` : req.getUrl();
  const headers = [];
  let authorization = '';
  req.forEach((name, value) => {
    if (name === 'authorization') authorization = value;
    if (name !== 'host' && name !== 'connection') headers.push(name, value);
  });
  if (keys) {
    const claims = verify(keys, authorization);
    if (!claims) {
      res.cork(() => {
        res.writeStatus(STATUS[401]);
        res.writeHeader('www-authenticate', 'Bearer');
        res.end('Jwt verification fails');
      });
      return;
    }
    headers.push('x-team', String(claims.team), 'x-org', String(claims.org));
  }
  headers.push('x-forwarded-for', Buffer.from(res.getRemoteAddressAsText()).toString('latin1'));
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  send(p, headers, (status, ctype, body) => {
    if (aborted) return;
    res.cork(() => {
      res.writeStatus(STATUS[status] ?? String(status));
      if (ctype) res.writeHeader('content-type', ctype);
      res.end(body);
    });
  });
});
if (threads === 1) {
  listen(uws, app, values.host, Number(values.port));
} else if (isMainThread) {
  // uWS 20.30 shares a port (SO_REUSEPORT) only when the first socket asked for that port by
  // number: a port-0 socket is not shared. So the first thread takes a port the kernel picked for
  // the harness's freePort (a node:net socket, which sets no SO_REUSEPORT, closed at once).
  const tryPort = async (left) => {
    const port = Number(values.port) || (await freePort(values.host));
    app.listen(values.host, port, async (socket) => {
      if (!socket) {
        if (left > 0 && !Number(values.port)) return tryPort(left - 1);
        console.error(`cannot listen on ${values.host}:${port}`);
        process.exit(1);
      }
      const started = [];
      for (let i = 1; i < threads; i++) {
        const w = new Worker(new URL(import.meta.url), { workerData: { ...values, port: String(port) } });
        started.push(new Promise((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
          w.once('exit', (code) => reject(new Error(`thread ${i} exited with ${code}`)));
        }));
      }
      try {
        await Promise.all(started);
      } catch (err) {
        console.error(`a proxy thread failed to start: ${err.message}`);
        process.exit(1);
      }
      process.stdout.write(`listening ${port}\n`);
    });
  };
  tryPort(5);
  // uWS threads still listening make a worker's teardown abort the process: exit at once.
  process.on('SIGTERM', () => process.kill(process.pid, 'SIGKILL'));
} else {
  app.listen(values.host, Number(values.port), (socket) => {
    if (!socket) {
      console.error(`thread cannot listen on ${values.host}:${values.port}`);
      process.exit(1);
    }
    parentPort.postMessage('listening');
  });
}
