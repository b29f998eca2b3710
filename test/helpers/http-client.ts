// A raw HTTP/1.1 client for tests: exact control of the Host header and of repeated headers,
// and the full response (status, headers as received, body).
import http from 'node:http';

export interface ClientResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
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
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}
