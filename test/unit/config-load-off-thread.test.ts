// Reloads read the configuration files on a thread of their own (src/config/load-off-thread.ts,
// workers/config-load.ts): the result must be exactly what loadManifests gives on the main
// thread, and a thread that cannot do the load must never lose the reload.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { loadManifests } from '../../src/config/load.js';
import { loadManifestsOffThread } from '../../src/config/load-off-thread.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'jwtgate-offthread-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const backend = (name: string, extra = '') => `apiVersion: gateway.kgateway.dev/v1alpha1\nkind: Backend\nmetadata: { name: ${name} }\nspec: { type: Static, static: { hosts: [{ host: h, port: 1 }] } }${extra}\n`;

/** A folder of what the loader must carry over exactly: good documents, problems of every kind, odd keys, aliases. */
function corpus(dir: string): string[] {
  mkdirSync(path.join(dir, 'conf', 'sub'), { recursive: true });
  writeFileSync(path.join(dir, 'conf', 'a.yaml'), `${backend('a')}---\n${backend('b')}`);
  // A syntax error, a duplicate key, a document that is not a mapping, a template.
  writeFileSync(path.join(dir, 'conf', 'sub', 'bad.yaml'), `kind: Backend\nkind: Backend\n---\n- a\n---\nspec: [unclosed\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: {{ .Values.n }} }\n`);
  // Keys named like Object.prototype's, an alias shared by two fields, -0, a long list, an unknown tag.
  writeFileSync(path.join(dir, 'conf', 'sub', 'odd.yaml'), `apiVersion: gateway.kgateway.dev/v1alpha1\nkind: DirectResponse\nmetadata: { name: d, labels: { __proto__: x } }\nspec:\n  status: 200\n  __proto__: { polluted: true }\n  constructor: 1\n  a: &shared { k: [1, 2] }\n  b: *shared\n  z: -0.0\n  t: !Ref x\n  l: [${Array(2000).fill('1').join(',')}]\n`);
  writeFileSync(path.join(dir, 'conf', '.hidden.yaml'), backend('hidden'));
  writeFileSync(path.join(dir, 'named.json'), JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'j' }, data: { k: 'v' } }));
  return [path.join(dir, 'conf'), path.join(dir, 'named.json'), path.join(dir, 'missing.yaml')];
}

test('off the main thread, the loader gives exactly the main thread\'s result: resources, their lines, every problem, keys named like Object.prototype\'s, -0, and an aliased object kept as one object', async (t) => {
  const paths = corpus(tempDir(t));
  const here = await loadManifests(paths);
  let fellBack = '';
  const there = await loadManifestsOffThread(paths, { onFallback: (r) => (fellBack = r) });
  assert.equal(fellBack, '', 'the thread did the load');
  assert.deepEqual(there, here);
  // The corpus holds what it is meant to (a test of an empty result would prove nothing).
  assert.deepEqual(there.resources.map((r) => r.name), ['a', 'b', 'd', 'j']);
  const messages = there.problems.map((p) => p.message).join('\n');
  for (const m of [/Map keys must be unique/, /not a mapping/, /\{\{ \.Values\.n \}\}/, /cannot read/, /a hidden file/, /Unresolved tag: !Ref/, /Flow sequence|flow collection|unclosed|Missing/i]) assert.match(messages, m);
  const spec = there.resources[2]!.object['spec'] as Record<string, unknown>;
  assert.ok(Object.hasOwn(spec, '__proto__'), 'an own field named __proto__');
  assert.equal(Object.getPrototypeOf(spec), Object.prototype);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  assert.ok(Object.is(spec['z'], -0));
  assert.equal(spec['a'], spec['b'], 'the alias and its anchor are one object, as on the main thread (walks look at it once)');
  assert.equal((here.resources[2]!.object['spec'] as Record<string, unknown>)['a'], (here.resources[2]!.object['spec'] as Record<string, unknown>)['b']);
  assert.ok(there.resources[2]!.lines instanceof Map && there.resources[2]!.lines.get('spec.b') === 9);
});

test('a thread that cannot start, or ends before it posts a result, is reported to onFallback and the files are read on the calling thread instead (the reload is not lost)', async (t) => {
  const dir = tempDir(t);
  const paths = corpus(dir);
  const here = await loadManifests(paths);
  const reasons: string[] = [];
  const missing = await loadManifestsOffThread(paths, { workerFile: path.join(dir, 'no-such-worker.js'), onFallback: (r) => reasons.push(r) });
  assert.deepEqual(missing, here);
  const quitter = path.join(dir, 'quit.mjs');
  writeFileSync(quitter, 'process.exit(3);\n');
  const quit = await loadManifestsOffThread(paths, { workerFile: quitter, onFallback: (r) => reasons.push(r) });
  assert.deepEqual(quit, here);
  const thrower = path.join(dir, 'throw.mjs');
  writeFileSync(thrower, 'throw new Error("broken worker");\n');
  assert.deepEqual(await loadManifestsOffThread(paths, { workerFile: thrower, onFallback: (r) => reasons.push(r) }), here);
  const poster = path.join(dir, 'post.mjs');
  writeFileSync(poster, 'import { parentPort } from "node:worker_threads"; parentPort.postMessage({ ok: false, error: "loader bug" });\n');
  assert.deepEqual(await loadManifestsOffThread(paths, { workerFile: poster, onFallback: (r) => reasons.push(r) }), here);
  assert.equal(reasons.length, 4, reasons.join('\n'));
  assert.match(reasons[0]!, /no-such-worker|Cannot find module/);
  assert.match(reasons[1]!, /exited with code 3 before posting a result/);
  assert.match(reasons[2]!, /broken worker/);
  assert.equal(reasons[3], 'loader bug');
  assert.equal(threadId, 0);
});

test('a thread that runs out of memory fails the load with a problem (nothing applied) instead of repeating it on the main thread', async (t) => {
  const dir = tempDir(t);
  const hog = path.join(dir, 'hog.mjs');
  writeFileSync(hog, 'const keep = []; for (;;) keep.push(new Array(100000).fill({ x: 1 }));\n');
  let fellBack = false;
  const r = await loadManifestsOffThread([dir], { workerFile: hog, resourceLimits: { maxOldGenerationSizeMb: 32 }, onFallback: () => (fellBack = true) });
  assert.equal(fellBack, false);
  assert.deepEqual(r.resources, []);
  assert.equal(r.problems.length, 1);
  assert.equal(r.problems[0]!.severity, 'error');
  assert.match(r.problems[0]!.message, /ran out of memory/);
  assert.equal(r.problems[0]!.resource, dir);
});
