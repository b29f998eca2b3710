// Piscina task module (compiled to dist/workers/verify.js): verifies a batch of signatures with
// the key sets the main thread publishes on a BroadcastChannel. Returns values, never throws.
// Does not parse tokens or check claims; an item whose key set is not loaded here (worker just
// started, message not yet seen) answers KEYSET_NOT_LOADED and the main thread does it inline.

import { BroadcastChannel, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { fromWire, type KeyWireMessage } from '../src/jwks/key-wire.js';
import { verifyWithKeySet } from '../src/jwks/verify-signature.js';
import {
  KEYSET_CHANNEL,
  type KeyForWorker,
  type VerifyItemResult,
  type VerifyTask,
  type VerifyTaskResult,
} from '../src/types.js';

const keySets = new Map<string, { generation: number; keys: readonly KeyForWorker[] }>();

function apply(msg: KeyWireMessage | undefined): void {
  if (!msg) return;
  if (msg.type === 'keyset') {
    const current = keySets.get(msg.id);
    // A republish can arrive after a newer publish: never go back in generation, and do not
    // re-import what is already loaded.
    if (!current || current.generation < msg.generation) keySets.set(msg.id, { generation: msg.generation, keys: fromWire(msg.keys) });
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
 * Between tasks piscina parks this thread in Atomics.wait, so channel events are not
 * dispatched; messages that arrived meanwhile are read synchronously before each task.
 */
function drainChannel(): void {
  for (;;) {
    const m = receiveMessageOnPort(channel as unknown as MessagePort);
    if (m === undefined) return;
    apply(m.message as KeyWireMessage);
  }
}

export default function verify(task: VerifyTask): VerifyTaskResult {
  drainChannel();
  const items = task.items;
  const results: VerifyItemResult[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    results[i] = verifyWithKeySet(item, keySets.get(item.keySetId));
  }
  return { results };
}
