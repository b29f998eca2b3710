// An upstream that sends its response head and then breaks, through the real front end: with a
// declared length the client gets that head and a connection closed short of the body (as from
// Envoy, which forwards the head and resets), never a local "reset before headers" 503.
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { sampleApp, startHarness } from '../helpers/harness.js';

async function rawUpstream(answer: string): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => {
      s.write(answer);
      setTimeout(() => s.destroy(), 30);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

function exchange(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('POST /orders HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 2\r\n\r\nhi'));
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(got));
  });
}

test('head then close: with Content-Length the client gets the 201 head and a short body, then the close; chunked: a close without an answer; never a 503', { timeout: 30_000 }, async () => {
  for (const [answer, headSent] of [
    ['HTTP/1.1 201 Created\r\nLocation: /orders/42\r\nContent-Length: 100\r\n\r\n', true],
    ['HTTP/1.1 201 Created\r\nLocation: /orders/42\r\nTransfer-Encoding: chunked\r\n\r\n', false],
  ] as const) {
    const up = await rawUpstream(answer);
    const h = await startHarness({ base: () => sampleApp((up.address() as AddressInfo).port) });
    try {
      const got = await exchange(h.port);
      assert.doesNotMatch(got, /503|reset before headers/, got);
      if (headSent) {
        assert.match(got, /^HTTP\/1\.1 201 Created\r\n/);
        assert.match(got, /\r\nlocation: \/orders\/42\r\n/i);
        assert.match(got, /\r\nContent-Length: 100\r\n\r\n$/i, 'the head, and no body byte: the client sees the body cut');
      } else {
        assert.equal(got, '');
      }
    } finally {
      await h.close();
      await new Promise<void>((r) => up.close(() => r()));
    }
  }
});
