// Shared by the bare uWS floors (uws-401.mjs, uws-proxy.mjs): the same native uWS binary jwtgate
// loads (through its dist/ loader), and listening the way the harness expects.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function loadBareUws() {
  const { loadUws } = await import(pathToFileURL(path.join(root, 'dist/src/http/uws.js')).href);
  return loadUws();
}

/** Listens, prints "listening <port>" (what bench/cpu.mjs waits for), exits 1 if it cannot; SIGTERM exits. */
export function listen(uws, app, host, port) {
  app.listen(host, port, (socket) => {
    if (!socket) {
      console.error(`cannot listen on ${host}:${port}`);
      process.exit(1);
    }
    process.stdout.write(`listening ${uws.us_socket_local_port(socket)}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}
