// A raw HTTP/1.1 client for tests: exact control of the Host header and of repeated headers,
// and the full response (status, headers as received, body).
import http from 'node:http';

export interface ClientResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  /** The body's bytes as received (a compressed one, binary data). */
  raw: Buffer;
}

export function request(opts: {
  port: number;
  path?: string;
  method?: string;
  host?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  timeoutMs?: number;
}): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { host: opts.host ?? 'www.example.com:8080', ...opts.headers };
    const req = http.request(
      { host: '127.0.0.1', port: opts.port, path: opts.path ?? '/headers', method: opts.method ?? 'GET', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: raw.toString(), raw });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * POSTs `body` to `path` in 64 KiB writes, each waiting for the socket to drain, as a client that
 * honours backpressure: `writtenAt` is how much it had written `watchMs` after the start (how far
 * the gateway let it get). Resolves with the answer, or the socket's error.
 */
export function pacedUpload(opts: { port: number; path: string; headers: Record<string, string>; body: Buffer; watchMs: number }): Promise<{ status: number; text: string; writtenAt: number } | Error> {
  let written = 0;
  let writtenAt = -1;
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port: opts.port, path: opts.path, method: 'POST', agent: false, headers: { host: 'www.example.com:8080', 'content-type': 'application/octet-stream', 'content-length': String(opts.body.length), ...opts.headers } },
      (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => (text += c));
        r.on('end', () => resolve({ status: r.statusCode!, text, writtenAt }));
      },
    );
    req.on('error', resolve);
    const pump = (): void => {
      while (written < opts.body.length) {
        const piece = opts.body.subarray(written, written + 64 * 1024);
        written += piece.length;
        if (!req.write(piece)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
    setTimeout(() => (writtenAt = written), opts.watchMs);
  });
}
