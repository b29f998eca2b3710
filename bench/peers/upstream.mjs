// The cheap upstream every peer protects: node:http, keep-alive, `GET /headers` answers a small JSON
// echo of the request headers ({"headers":{…}}, httpbin-style, so probes can see x-team/x-org);
// anything else gets a tiny 200 "ok". Deliberately minimal so the peers in front are the bottleneck.
//
//   node bench/peers/upstream.mjs --port N [--host 127.0.0.1] [--procs K]
//
// --procs K > 1 runs K processes sharing the port (node:cluster); the harness uses 1 by default.
// Prints "listening <port>" on stdout when ready.
import http from 'node:http';
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    procs: { type: 'string', default: '1' },
  },
});
const procs = Math.max(1, Number(values.procs) || 1);

if (procs > 1 && cluster.isPrimary) {
  let ready = 0;
  for (let i = 0; i < procs; i++) {
    cluster.fork().on('message', (m) => {
      if (m?.listening && ++ready === procs) process.stdout.write(`listening ${m.listening}\n`);
    });
  }
  const stop = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const OK = Buffer.from('ok');
  const server = http.createServer((req, res) => {
    if (req.url === '/headers' || req.url?.startsWith('/headers?')) {
      const body = JSON.stringify({ headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } else {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': OK.length });
      res.end(OK);
    }
  });
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.requestTimeout = 0;
  server.maxRequestsPerSocket = 0;
  server.listen(Number(values.port), values.host, () => {
    const { port } = server.address();
    if (cluster.isWorker) process.send?.({ listening: port });
    else process.stdout.write(`listening ${port}\n`);
  });
  const stop = () => server.close(() => process.exit(0)).closeAllConnections();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
