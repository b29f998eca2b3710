// ListenerSet (gateway.networking.k8s.io, Gateway API v1.5 standard channel) and XListenerSet
// (gateway.networking.x-k8s.io, experimental): listeners added to a parent Gateway that admits
// them through its `spec.allowedListeners`. jwtgate does not serve them; compile.ts turns each
// listener of an admitted set into a fail-closed listener of its parent (its hostname answers
// 500 on a port the parent serves), so its requests never reach the parent's other routes.

import type { ConfigProblem } from '../errors.js';
import type { RawResource } from './resource.js';
import { any, int, list, obj, ParseCtx, str } from './schema.js';
import { documentSchema, GATEWAY_API_GROUP, group, hostname, kind, modelBase, namespaceName, objectName, sectionName } from './validate-common.js';

const listener = obj(
  {
    name: sectionName(),
    hostname: hostname().optional(),
    port: int({ min: 1, max: 65535 }),
    protocol: str({ min: 1, max: 255 }),
    tls: any().optional(),
    allowedRoutes: any().optional(),
  },
);

const spec = obj({
  parentRef: obj({
    group: group().default(GATEWAY_API_GROUP),
    kind: kind().default('Gateway'),
    namespace: namespaceName().optional(),
    name: objectName(),
  }),
  listeners: list(listener, { min: 1, max: 64 }),
});

const document = documentSchema(spec);

export interface ListenerSetListener {
  readonly name: string;
  readonly index: number;
  readonly port: number;
  readonly hostname?: string;
}

export interface ListenerSetModel {
  readonly raw: RawResource;
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  /** The parent Gateway (`namespace/name`), undefined when parentRef is not a Gateway. */
  readonly parent?: string;
  readonly listeners: readonly ListenerSetListener[];
  /** The API server would accept it. */
  readonly valid: boolean;
  readonly error?: string;
}

export function validateListenerSet(raw: RawResource, problems: ConfigProblem[]): ListenerSetModel {
  const cx = ParseCtx.for(raw, problems);
  const before = problems.length;
  const doc = document.parse(raw.object, '', cx);
  const s = doc?.spec;
  const ref = s?.parentRef;
  let parent: string | undefined;
  if (ref) {
    if (ref.group === GATEWAY_API_GROUP && ref.kind === 'Gateway') parent = `${ref.namespace ?? raw.namespace}/${ref.name}`;
    else cx.warn('spec.parentRef', `parent ${ref.group}/${ref.kind} is not a Gateway: this ${raw.kind} attaches to nothing and is ignored`);
  }
  const listeners: ListenerSetListener[] = (s?.listeners ?? []).map((l, index) => ({ name: l.name, index, port: l.port, ...(l.hostname !== undefined ? { hostname: l.hostname } : {}) }));
  return { ...modelBase(raw, cx, problems, before), ...(parent !== undefined ? { parent } : {}), listeners, valid: cx.errors === 0 };
}
