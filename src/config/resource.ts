// A manifest document as the loader hands it to validation: identity (kind, namespace, name),
// the parsed object, and where it came from (file:line, plus the line of every field path so a
// problem can point at the exact line). No validation beyond identity happens here.

export interface RawResource {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  /** `metadata.namespace`, defaulted to `default`. */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** `metadata.creationTimestamp` as written (RFC 3339), if any. */
  readonly creationTimestamp?: string;
  /** The whole document as plain JSON data. */
  readonly object: Readonly<Record<string, unknown>>;
  /** `file:line` of the document (for `loadManifestsFromText`, `<sourceName>:line`). */
  readonly source: string;
  /** File name part of `source`. */
  readonly file: string;
  /** Line of every field path in the document (`spec.jwt.providers[0].issuer` -> 14). */
  readonly lines?: ReadonlyMap<string, number>;
}

/** Label selector semantics kgateway uses: every label of `match` equal; an empty selector selects nothing. */
export function labelsMatch(labels: Readonly<Record<string, string>>, match: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(match);
  if (keys.length === 0) return false;
  return keys.every((k) => labels[k] === match[k]);
}

/** `Kind/namespace/name`, the resource id every problem and status uses. */
export function resourceId(r: { kind: string; namespace: string; name: string }): string {
  return `${r.kind}/${r.namespace}/${r.name}`;
}

/** `file:line` of `path` or of its nearest ancestor that has a line; falls back to the document. */
export function sourceOf(r: RawResource, path: string): string {
  const lines = r.lines;
  if (lines && path) {
    let p = path;
    for (;;) {
      const line = lines.get(p);
      if (line !== undefined) return `${r.file}:${line}`;
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (cut <= 0) break;
      p = p.slice(0, cut);
    }
  }
  return r.source;
}

/**
 * Creation time for "oldest wins" tie-breaks. A manifest without `creationTimestamp` is treated
 * as created now, i.e. newer than any resource that has one (it is what `kubectl apply` would do).
 */
export function creationMs(r: { creationTimestamp?: string }): number {
  if (!r.creationTimestamp) return Number.POSITIVE_INFINITY;
  const t = Date.parse(r.creationTimestamp);
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

/** Oldest first, then `namespace/name` alphabetically (Gateway API / kgateway tie-break). */
export function compareAge(
  a: { creationTimestamp?: string; namespace: string; name: string },
  b: { creationTimestamp?: string; namespace: string; name: string },
): number {
  const ta = creationMs(a);
  const tb = creationMs(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
