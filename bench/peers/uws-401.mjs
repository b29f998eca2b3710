// The floor of the 401 path: a bare uWebSockets.js app (the same native binary jwtgate loads)
// that copies the request headers and answers every request with jwtgate's missing-token reply.
// Used by bench/cpu.mjs --target bare-uws-401, not by the harness's peers.
//   node bench/peers/uws-401.mjs --port N [--host 127.0.0.1]      prints "listening <port>"
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { loadUws } = await import(pathToFileURL(path.join(root, 'dist/src/http/uws.js')).href);
const uws = loadUws();
const app = uws.App();
app.any('/*', (res, req) => {
  const headers = [];
  req.forEach((name, value) => {
    headers.push(name, value);
  });
  const realm = `Bearer realm="http://${req.getHeader('host')}${req.getUrl()}"`;
  res.cork(() => {
    res.writeStatus('401 Unauthorized');
    res.writeHeader('content-type', 'text/plain');
    res.writeHeader('www-authenticate', realm);
    res.end('Jwt is missing');
  });
});
app.listen(values.host, Number(values.port), (socket) => {
  if (!socket) {
    console.error(`cannot listen on ${values.host}:${values.port}`);
    process.exit(1);
  }
  process.stdout.write(`listening ${uws.us_socket_local_port(socket)}\n`);
});
process.on('SIGTERM', () => process.exit(0));
