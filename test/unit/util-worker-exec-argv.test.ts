import test from 'node:test';
import assert from 'node:assert/strict';
import { workerExecArgv } from '../../src/util/worker-exec-argv.js';

test('workerExecArgv drops the V8 and process-wide options a Worker refuses, keeps the rest in order', () => {
  const base = ['--max-semi-space-size=64', '--enable-source-maps', '--title', 'jwtgate', '--max-old-space-size=4096', '--no-warnings', '--expose-gc'];
  assert.deepEqual(workerExecArgv([], base), ['--enable-source-maps', '--no-warnings']);
});

test('workerExecArgv keeps an accepted list as is and appends the extra options', () => {
  assert.deepEqual(workerExecArgv(['--no-warnings'], ['--enable-source-maps']), ['--enable-source-maps', '--no-warnings']);
  assert.deepEqual(workerExecArgv([], []), []);
  assert.deepEqual(workerExecArgv(['--expose-gc'], []), []);
});
