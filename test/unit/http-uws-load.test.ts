// The uWS loader takes the native addon or fails loudly: never the package's silent JS fallback.
import test from 'node:test';
import assert from 'node:assert/strict';
import { loadUws, UwsLoadError } from '../../src/http/uws.js';

test('the native addon loads (no JS fallback: App is a native function)', () => {
  const uws = loadUws();
  assert.equal(typeof uws.App, 'function');
  assert.match(String(uws.App), /\[native code\]/);
});

test('an addon that cannot be loaded is a clear start-up error, not a fallback', () => {
  assert.throws(
    () => loadUws('/nonexistent/uws_linux_x64_0.node'),
    (err: unknown) =>
      err instanceof UwsLoadError &&
      /cannot load the uWebSockets\.js native module/.test(err.message) &&
      /does not fall back to a JS HTTP server/.test(err.message),
  );
});
