// The floor of the 401 path: a bare uWebSockets.js app (the same native binary jwtgate loads)
// that copies the request headers and answers every request with jwtgate's missing-token reply.
// Used by bench/cpu.mjs --target bare-uws-401, not by the harness's peers.
//   node bench/peers/uws-401.mjs --port N [--host 127.0.0.1]      prints "listening <port>"
import { parseArgs } from 'node:util';
import { listen, loadBareUws } from './bare-uws.mjs';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });
const uws = await loadBareUws();
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
listen(uws, app, values.host, Number(values.port));
