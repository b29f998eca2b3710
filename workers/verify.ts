// Piscina task module (compiled to dist/workers/verify.js): verifies a batch of signatures with
// the key sets the main thread publishes on a BroadcastChannel. Returns values, never throws.
// Does not parse tokens or check claims; an item whose key set is not loaded here (worker just
// started, message not yet seen) answers KEYSET_NOT_LOADED and the main thread does it inline.

import { BroadcastChannel, receiveMessageOnPort, threadId, workerData, type MessagePort } from 'node:worker_threads';
import { fromWire, type KeyWireMessage, type WireKey } from '../src/jwks/key-wire.js';
import { verifyWithKeySet } from '../src/jwks/verify-signature.js';
import {
  KEYSET_CHANNEL,
  VERIFY_PROGRESS_SLOTS,
  type KeyForWorker,
  type VerifyItemResult,
  type VerifyTask,
  type VerifyTaskResult,
} from '../src/types.js';

/**
 * Key sets by id. `keys` is made from `wire` on first use, and each key imported when a check
 * first tries it: a worker that was idle through several generations imports only the newest,
 * and of it only the keys its checks select.
 */
const keySets = new Map<string, { generation: number; wire: readonly WireKey[]; keys?: readonly KeyForWorker[] }>();

/** What this worker has taken in, for `Verifier.workerKeySetState()` (diagnostics and tests). */
const counters = { messagesApplied: 0, imports: 0, keyImports: 0 };
const countKeyImport = (): void => {
  counters.keyImports++;
};

function apply(msg: KeyWireMessage | undefined): void {
  if (!msg) return;
  counters.messagesApplied++;
  if (msg.type === 'keyset') {
    const current = keySets.get(msg.id);
    // A republish can arrive after a newer publish: never go back in generation, and do not
    // re-import what is already loaded.
    if (!current || current.generation < msg.generation) keySets.set(msg.id, { generation: msg.generation, wire: msg.keys });
  } else if (msg.type === 'keyset-drop') {
    for (const id of msg.ids) keySets.delete(id);
  }
}

const channelName: string = typeof workerData?.keySetChannel === 'string' ? workerData.keySetChannel : KEYSET_CHANNEL;
const channel = new BroadcastChannel(channelName);
channel.onmessage = (ev) => apply(ev.data as KeyWireMessage);
// The channel must not keep a worker alive once piscina lets it go.
channel.unref();
channel.postMessage({ type: 'keyset-request' } satisfies KeyWireMessage);

/**
 * Channel events are dispatched while the worker is idle (the pool uses atomics: 'async'); a
 * message that arrived while a batch ran, or before the event loop turned, is read here
 * synchronously before each task.
 */
function drainChannel(): void {
  for (;;) {
    const m = receiveMessageOnPort(channel as unknown as MessagePort);
    if (m === undefined) return;
    apply(m.message as KeyWireMessage);
  }
}

function loaded(id: string): { readonly generation: number; readonly keys: readonly KeyForWorker[] } | undefined {
  const set = keySets.get(id);
  if (set === undefined) return undefined;
  if (set.keys === undefined) {
    set.keys = fromWire(set.wire, countKeyImport);
    counters.imports++;
  }
  return set as { generation: number; keys: readonly KeyForWorker[] };
}

/** This worker's slot of the Verifier's progress array: checks done, and the task it runs. */
const progress = workerData?.progress instanceof SharedArrayBuffer ? new Int32Array(workerData.progress) : undefined;
const slot = (threadId % VERIFY_PROGRESS_SLOTS) * 2;

export default function verify(task: VerifyTask): VerifyTaskResult {
  drainChannel();
  const items = task.items;
  const results: VerifyItemResult[] = new Array(items.length);
  if (progress) Atomics.store(progress, slot + 1, task.seq ?? 0);
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    results[i] = verifyWithKeySet(item, loaded(item.keySetId));
    // The Verifier's watchdog tells a slow queue from a stuck worker by this.
    if (progress) Atomics.add(progress, slot, 1);
  }
  if (progress) Atomics.store(progress, slot + 1, 0);
  return { results };
}

/** Named task `keySetState`: the generation of each key set this worker holds, and its counters. */
export function keySetState(): { generations: Record<string, number>; messagesApplied: number; imports: number; keyImports: number } {
  return { generations: Object.fromEntries([...keySets].map(([id, k]) => [id, k.generation])), ...counters };
}
