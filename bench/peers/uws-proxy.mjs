// The floor of the proxy path: a bare uWebSockets.js app (the same native binary jwtgate loads)
// that checks no token and forwards every GET to the upstream over keep-alive connections, with
// one of three HTTP/1.1 clients:
//   --client undici-request   undici 7 Pool.request (the "bare uWS + undici" reference)
//   --client undici-dispatch  undici 7 Pool.dispatch with a minimal callback handler (jwtgate's way)
//   --client raw              a minimal client on node:net sockets: one request string per
//                             request, responses framed by Content-Length only (enough for the
//                             bench upstream, not a general client)
// It copies the request headers, adds x-forwarded-for, and answers with the upstream's status,
// content-type and body. What jwtgate spends per cache-hit request above the first two is its own
// work; what the raw client saves is what any client leaner than undici could at most save.
// Used by bench/cpu.mjs --target bare-uws-proxy-<client>, not by the harness's peers.
//   node bench/peers/uws-proxy.mjs --upstream-port N [--port N] [--client raw]   prints "listening <port>"
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { listen, loadBareUws, root } from './bare-uws.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'upstream-port': { type: 'string' },
    client: { type: 'string', default: 'undici-dispatch' },
    connections: { type: 'string', default: '64' },
  },
});
const CLIENTS = ['undici-request', 'undici-dispatch', 'raw'];
if (!CLIENTS.includes(values.client)) {
  console.error(`--client must be one of ${CLIENTS.join(', ')}`);
  process.exit(2);
}
if (!values['upstream-port']) {
  console.error('--upstream-port is required');
  process.exit(2);
}
const upstreamPort = Number(values['upstream-port']);
const maxConnections = Number(values.connections);
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

const send = makeClient(values.client);
const STATUS = { 200: '200 OK', 502: '502 Bad Gateway' };
const app = uws.App();
app.get('/*', (res, req) => {
  const q = req.getQuery();
  const p = q ? `${req.getUrl()}?${q}` : req.getUrl();
  const headers = [];
  req.forEach((name, value) => {
    if (name !== 'host' && name !== 'connection') headers.push(name, value);
  });
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
listen(uws, app, values.host, Number(values.port));
