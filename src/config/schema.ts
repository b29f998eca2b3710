// A small validation schema in the style of the kubebuilder markers the kgateway CRDs carry:
// required fields, defaults, enums, lengths, item counts, patterns, ExactlyOneOf unions, plus
// unknown fields as errors (kubectl strict validation) with a "did you mean", and fields renamed in
// the current API. Config types are inferred from the schemas (`Infer<typeof X>`), so each shape
// is written once. Parsing never stops at the first problem: every problem goes to the ParseCtx.

import type { ConfigProblem } from '../errors.js';
import { parseClockSkew, parseDuration } from './duration.js';
import { resourceId, sourceOf, type RawResource } from './resource.js';
import { cutText } from '../util/text.js';

// ---------------------------------------------------------------------------------------------
// Context

export class ParseCtx {
  /** Errors recorded so far (compare before/after a sub-parse to know if a part is valid). */
  errors = 0;
  constructor(
    /** `Kind/namespace/name` */
    readonly resource: string,
    readonly problems: ConfigProblem[],
    private readonly raw?: RawResource,
    private readonly fallbackSource?: string,
  ) {}

  static for(raw: RawResource, problems: ConfigProblem[]): ParseCtx {
    return new ParseCtx(resourceId(raw), problems, raw);
  }

  source(path: string): string | undefined {
    return this.raw ? sourceOf(this.raw, path) : this.fallbackSource;
  }

  error(path: string, message: string): void {
    this.errors++;
    this.problems.push({ resource: this.resource, path, message, severity: 'error', ...src(this.source(path)) });
  }

  warn(path: string, message: string): void {
    this.problems.push({ resource: this.resource, path, message, severity: 'warning', ...src(this.source(path)) });
  }
}

function src(s: string | undefined): { source?: string } {
  return s === undefined ? {} : { source: s };
}

export function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

// ---------------------------------------------------------------------------------------------
// Schema base

export abstract class Schema<T> {
  declare readonly _type: T;
  /** Parses a present (non-null) value; returns undefined when it is invalid (problem recorded). */
  abstract parse(v: unknown, path: string, cx: ParseCtx): T | undefined;

  optional(): OptionalSchema<T> {
    return new OptionalSchema(this);
  }

  default(value: T): DefaultSchema<T> {
    return new DefaultSchema(this, value);
  }

  /** Extra checks on a value that passed this schema. */
  check(fn: (v: T, path: string, cx: ParseCtx) => void): Schema<T> {
    return new MappedSchema(this, (v, p, cx) => {
      fn(v, p, cx);
      return v;
    });
  }

  /** Converts a value that passed this schema (return undefined after recording a problem). */
  map<U>(fn: (v: T, path: string, cx: ParseCtx) => U | undefined): Schema<U> {
    return new MappedSchema(this, fn);
  }
}

export class OptionalSchema<T> extends Schema<T> {
  readonly isOptional = true as const;
  constructor(readonly inner: Schema<T>) {
    super();
  }
  parse(v: unknown, path: string, cx: ParseCtx): T | undefined {
    return this.inner.parse(v, path, cx);
  }
}

export class DefaultSchema<T> extends Schema<T> {
  constructor(readonly inner: Schema<T>, readonly defaultValue: T) {
    super();
  }
  parse(v: unknown, path: string, cx: ParseCtx): T | undefined {
    return this.inner.parse(v, path, cx);
  }
}

class MappedSchema<T, U> extends Schema<U> {
  constructor(private readonly inner: Schema<T>, private readonly fn: (v: T, path: string, cx: ParseCtx) => U | undefined) {
    super();
  }
  parse(v: unknown, path: string, cx: ParseCtx): U | undefined {
    const r = this.inner.parse(v, path, cx);
    return r === undefined ? undefined : this.fn(r, path, cx);
  }
}

export type Infer<S> = S extends Schema<infer T> ? T : never;
type Shape = Record<string, Schema<any>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends { isOptional: true } ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type InferShape<S extends Shape> = Simplify<
  { readonly [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { readonly [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

// ---------------------------------------------------------------------------------------------
// Scalars

/**
 * Where a string may hold key material or a secret: anything in a Secret, and values under a
 * `jwks`, `inline`, `data` or `stringData` field (an oct key, a PEM, a ConfigMap's JWKS), or
 * under a TrafficPolicy's `basicAuth` (htpasswd lines: password hashes, or passwords).
 */
const SENSITIVE_PATH = /(^|\.)(jwks|inline|data|stringData|basicAuth)(\.|\[|$)/;

/**
 * Header and query parameter names whose match values may be credentials, never quoted in error
 * messages or shown by /config_dump: anything that reads as a credential (`authorization`, `x-auth`, `api_key`, `x-accesskey`, `jwt`, `sig`, `x-hub-signature-256`, `code`, …).
 */
export const SENSITIVE_NAME = /auth|cookie|token|secret|passw|credential|session|jwt|api[-_.]?key|(key|sig(nature)?)([-_.]?[0-9]+)?$|^code$/i;

/**
 * A value for an error message. Strings are quoted (shortened), except where they may be key
 * material or a secret (`cx`/`path` say where): those give only their length, so `check`, the
 * logs and /config_dump never show them.
 */
export function describe(v: unknown, cx?: ParseCtx, path = ''): string {
  if (v === null || v === undefined) return 'null';
  const sensitive = cx !== undefined && (cx.resource.startsWith('Secret/') || SENSITIVE_PATH.test(path));
  if (typeof v === 'string') {
    if (sensitive) return `a string of ${v.length} characters`;
    return `string "${cutText(v, 60, 57)}"`;
  }
  // A PIN or key written unquoted is a YAML number: its type only.
  if (typeof v === 'number' || typeof v === 'boolean') return sensitive ? `a ${typeof v}` : `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'binary data (a !!binary value: write the text as a string)';
  return 'an object';
}

export function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n;
}

const SHELL_VAR = /\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Z_][A-Z0-9_]*)/;

export interface StringOptions {
  readonly min?: number;
  readonly max?: number;
  readonly enum?: readonly string[];
  /** Pattern and how to describe it in the message. */
  readonly pattern?: RegExp;
  readonly patternHint?: string;
  /** Skip the "unexpanded shell variable" warning (regex values, JWKS text). */
  readonly noShellVarCheck?: boolean;
  /** Never quote the value in a message (a header value may be a credential for the upstream). */
  readonly secret?: boolean;
}

class StringSchema<T extends string> extends Schema<T> {
  constructor(private readonly o: StringOptions) {
    super();
  }
  parse(v: unknown, path: string, cx: ParseCtx): T | undefined {
    const o = this.o;
    if (typeof v !== 'string') {
      cx.error(path, `Invalid value${o.secret ? ` (a ${v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v}, not shown)` : `: ${describe(v, cx, path)}`}: must be of type string`);
      return undefined;
    }
    const len = codePoints(v);
    if (o.min !== undefined && len < o.min) {
      cx.error(path, o.min === 1 ? 'Invalid value: "": must not be empty (at least 1 character)' : `Invalid value: must be at least ${o.min} characters (got ${len})`);
      return undefined;
    }
    if (o.max !== undefined && len > o.max) {
      cx.error(path, `Too long: may not be more than ${o.max} characters (got ${len})`);
      return undefined;
    }
    if (o.enum && !o.enum.includes(v)) {
      const close = suggest(v, o.enum);
      cx.error(path, `Unsupported value: "${v}": supported values: ${o.enum.map((e) => `"${e}"`).join(', ')}${close ? ` (did you mean "${close}"?)` : ''}`);
      return undefined;
    }
    if (o.pattern && !o.pattern.test(v)) {
      cx.error(path, `Invalid value${o.secret ? ' (not shown)' : `: "${v}"`}: ${o.patternHint ?? `should match '${o.pattern.source}'`}`);
      return undefined;
    }
    if (!o.noShellVarCheck && !o.secret) {
      const m = SHELL_VAR.exec(v);
      if (m) cx.warn(path, `contains ${m[0]}: an unexpanded shell variable? (the docs' "kubectl apply -f- <<EOF" expands it; jwtgate reads the text as written)`);
    }
    return v as T;
  }
}

export function str(o: StringOptions = {}): Schema<string> {
  return new StringSchema<string>(o);
}

export function enumOf<const E extends readonly string[]>(values: E): Schema<E[number]> {
  return new StringSchema<E[number]>({ enum: values });
}

class IntSchema extends Schema<number> {
  constructor(private readonly min?: number, private readonly max?: number) {
    super();
  }
  parse(v: unknown, path: string, cx: ParseCtx): number | undefined {
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      cx.error(path, `Invalid value: ${describe(v, cx, path)}: must be of type integer`);
      return undefined;
    }
    if (this.min !== undefined && v < this.min) {
      cx.error(path, `Invalid value: ${v}: must be greater than or equal to ${this.min}`);
      return undefined;
    }
    if (this.max !== undefined && v > this.max) {
      cx.error(path, `Invalid value: ${v}: must be less than or equal to ${this.max}`);
      return undefined;
    }
    return v;
  }
}

export function int(o: { min?: number; max?: number } = {}): Schema<number> {
  return new IntSchema(o.min, o.max);
}

const YAML11_BOOL: Readonly<Record<string, boolean | undefined>> = { y: true, yes: true, on: true, n: false, no: false, off: false };

class BoolSchema extends Schema<boolean> {
  parse(v: unknown, path: string, cx: ParseCtx): boolean | undefined {
    if (typeof v !== 'boolean') {
      // kubectl's YAML 1.1 reads yes/no/on/off as booleans; YAML 1.2 (and jwtgate) as strings.
      const yaml11 = typeof v === 'string' && Object.hasOwn(YAML11_BOOL, v.toLowerCase()) ? YAML11_BOOL[v.toLowerCase()] : undefined;
      const hint = yaml11 !== undefined ? ` (kubectl reads "${v}" as ${yaml11}: write ${yaml11})` : ' (true or false)';
      cx.error(path, `Invalid value: ${describe(v, cx, path)}: must be of type boolean${hint}`);
      return undefined;
    }
    return v;
  }
}

export function bool(): Schema<boolean> {
  return new BoolSchema();
}

class AnySchema extends Schema<unknown> {
  parse(v: unknown): unknown {
    return v;
  }
}

/** Anything (kept as is; for fields jwtgate accepts but does not use). */
export function any(): Schema<unknown> {
  return new AnySchema();
}

/** A duration string (`10m`, `500ms`) -> milliseconds, with an optional lower bound. */
export function durationMs(o: { minMs?: number } = {}): Schema<number> {
  return new (class extends Schema<number> {
    parse(v: unknown, path: string, cx: ParseCtx): number | undefined {
      const r = parseDuration(v);
      if (!r.ok) {
        cx.error(path, r.error);
        return undefined;
      }
      if (o.minMs !== undefined && r.ms < o.minMs) {
        cx.error(path, `Invalid value: "${String(v)}": must be at least ${o.minMs}ms`);
        return undefined;
      }
      return r.ms;
    }
  })();
}

const MAX_CLOCK_SKEW_SECONDS = 87_600 * 3600;

/** `clockSkew` (`^([0-9]{1,5}(h|m|s)){1,3}$`, at most 87600h) -> seconds. */
export function clockSkewSeconds(): Schema<number> {
  return new (class extends Schema<number> {
    parse(v: unknown, path: string, cx: ParseCtx): number | undefined {
      const r = parseClockSkew(v);
      if (!r.ok) {
        cx.error(path, r.error);
        return undefined;
      }
      // kgateway's docs (2.5) bound it to 1s..87600h; beyond that, tokens expired for years pass.
      if (r.seconds > MAX_CLOCK_SKEW_SECONDS) {
        cx.error(path, `clockSkew ${String(v)} is ${r.seconds} s, above 87600h (10 years), the most kgateway accepts: it would accept tokens that expired years ago`);
        return undefined;
      }
      // kgateway writes it to clock_skew_seconds, a proto3 uint32 where 0 is unset: Envoy then
      // uses 60 s. Strict checking is not available; say so rather than let 0s look strict.
      if (r.seconds === 0) cx.warn(path, 'clockSkew 0s means unset to Envoy (clock_skew_seconds 0): 60 s of skew still applies; use 1s for the strictest check');
      return r.seconds;
    }
  })();
}

class StringMapSchema extends Schema<Readonly<Record<string, string>>> {
  constructor(private readonly secret = false) {
    super();
  }
  parse(v: unknown, path: string, cx: ParseCtx): Readonly<Record<string, string>> | undefined {
    if (!isObject(v)) {
      cx.error(path, `Invalid value: ${describe(v, cx, path)}: must be a map of strings`);
      return undefined;
    }
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'string') {
        const what = val === null ? 'null' : Array.isArray(val) ? 'list' : typeof val;
        cx.error(join(path, k), this.secret ? `Invalid value (a ${what}, not shown): must be of type string` : `Invalid value: ${describe(val, cx, join(path, k))}: must be of type string`);
      }
      else setOwn(out, k, val);
    }
    return out;
  }
}

/**
 * `o[k] = v` as an own property for every key: a plain assignment to `__proto__` sets the
 * prototype (a string: nothing) and the key is lost, where a map from a manifest (a Secret's
 * data key, say) may well be named so.
 */
export function setOwn(o: Record<string, string>, k: string, v: string): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}

/** A map of strings; `secret`: its values may be credentials, never shown in an error. */
export function stringMap(o: { secret?: boolean } = {}): Schema<Readonly<Record<string, string>>> {
  return new StringMapSchema(o.secret ?? false);
}

// ---------------------------------------------------------------------------------------------
// Lists

export interface ListOptions<T> {
  readonly min?: number;
  readonly max?: number;
  /** `+listType=map` key: duplicates are an error (`Duplicate value`). */
  readonly uniqueKey?: (item: T) => string | undefined;
  readonly uniqueKeyName?: string;
}

class ListSchema<T> extends Schema<readonly T[]> {
  constructor(private readonly item: Schema<T>, private readonly o: ListOptions<T>) {
    super();
  }
  parse(v: unknown, path: string, cx: ParseCtx): readonly T[] | undefined {
    if (!Array.isArray(v)) {
      cx.error(path, `Invalid value: ${describe(v, cx, path)}: must be a list`);
      return undefined;
    }
    const o = this.o;
    if (o.min !== undefined && v.length < o.min) cx.error(path, `Required value: must have at least ${o.min} item${o.min === 1 ? '' : 's'}`);
    if (o.max !== undefined && v.length > o.max) cx.error(path, `Too many: ${v.length}: must have at most ${o.max} items`);
    const out: T[] = [];
    const seen = new Map<string, number>();
    for (let i = 0; i < v.length; i++) {
      const p = `${path}[${i}]`;
      const el = v[i];
      if (el === null || el === undefined) {
        cx.error(p, 'Invalid value: null: list items must not be empty');
        continue;
      }
      const r = this.item.parse(el, p, cx);
      if (r === undefined) continue;
      if (o.uniqueKey) {
        const k = o.uniqueKey(r);
        if (k !== undefined) {
          const prev = seen.get(k);
          if (prev !== undefined) cx.error(o.uniqueKeyName ? `${p}.${o.uniqueKeyName}` : p, `Duplicate value: "${k}" (also at ${path}[${prev}])`);
          else seen.set(k, i);
        }
      }
      out.push(r);
    }
    return out;
  }
}

export function list<T>(item: Schema<T>, o: ListOptions<T> = {}): Schema<readonly T[]> {
  return new ListSchema(item, o);
}

// ---------------------------------------------------------------------------------------------
// Objects

const STRICT_FIELDS = "kubectl's strict field validation refuses it";

export interface ObjectOptions {
  /** Field names of older API versions -> what to write instead (an error). */
  readonly legacy?: Readonly<Record<string, string>>;
  /** Fields accepted but not used -> warning text. */
  readonly ignored?: Readonly<Record<string, string>>;
  /**
   * Fields not implemented whose absence would let through what they deny -> error text (or its
   * maker, given the object; a maker returns undefined for a value that changes nothing here).
   */
  readonly refused?: Readonly<Record<string, string | ((v: Record<string, unknown>) => string | undefined)>>;
  /** Each group: exactly one of these fields must be set (`+kubebuilder:validation:ExactlyOneOf`). */
  readonly exactlyOneOf?: readonly (readonly string[])[];
  /**
   * Word the `exactlyOneOf` errors as the CEL rule kgateway's CRD generates for the type
   * (`exactly one of the fields in [a b c] must be set`), what the API server answers there.
   */
  readonly exactlyOneOfCel?: boolean;
  /** Unknown fields: an error (default, with "did you mean"), or allowed silently. */
  readonly unknown?: 'error' | 'allow';
  /** Message for unknown fields that are not close to a known one (e.g. "ignored: not supported yet"). */
  readonly unknownMessage?: (field: string) => string;
  /** A missing required field -> what to write (after "Required value: "), given the object. */
  readonly requiredMessage?: Readonly<Record<string, (v: Record<string, unknown>) => string>>;
}

class ObjectSchema<S extends Shape> extends Schema<InferShape<S>> {
  constructor(readonly shape: S, private readonly o: ObjectOptions) {
    super();
  }
  parse(v: unknown, path: string, cx: ParseCtx): InferShape<S> | undefined {
    if (!isObject(v)) {
      cx.error(path || '(root)', `Invalid value: ${describe(v, cx, path)}: must be an object`);
      return undefined;
    }
    const o = this.o;
    const out: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(this.shape)) {
      const raw = v[key];
      const p = join(path, key);
      if (raw === undefined || raw === null) {
        if (schema instanceof DefaultSchema) out[key] = schema.defaultValue;
        else if (!(schema instanceof OptionalSchema)) {
          const how = o.requiredMessage?.[key];
          cx.error(p, how ? `Required value: ${how(v)}` : 'Required value');
        }
        continue;
      }
      const r = schema.parse(raw, p, cx);
      if (r !== undefined) out[key] = r;
    }
    const known = Object.keys(this.shape);
    for (const rawKey of Object.keys(v)) {
      if (Object.hasOwn(this.shape, rawKey)) continue;
      // A key no field name comes near is shown shortened in the path and message.
      const key = rawKey.length > 120 ? `${rawKey.slice(0, 60)}…(${rawKey.length} characters)` : rawKey;
      const p = join(path, key);
      const legacy = ownEntry(o.legacy, key);
      if (legacy !== undefined) {
        cx.error(p, legacy);
        continue;
      }
      const refused = ownEntry(o.refused, key);
      if (refused !== undefined) {
        if (v[rawKey] !== null && v[rawKey] !== undefined) {
          const message = typeof refused === 'string' ? refused : refused(v);
          if (message !== undefined) cx.error(p, message);
        }
        continue;
      }
      const ignored = ownEntry(o.ignored, key);
      if (ignored !== undefined) {
        if (v[rawKey] !== null && v[rawKey] !== undefined) cx.warn(p, ignored);
        continue;
      }
      if (o.unknown === 'allow') continue;
      // An error, as kubectl's default strict validation refuses the manifest: a misspelt
      // `jwtAuth` ignored with a warning left its Gateway serving without a JWT check.
      const close = suggest(key, known);
      if (close) cx.error(p, `unknown field "${key}": did you mean "${close}"? (${STRICT_FIELDS})`);
      else cx.error(p, o.unknownMessage ? o.unknownMessage(key) : `unknown field "${key}" (${STRICT_FIELDS})`);
    }
    // A renamed field already got an error that says what to write instead; the union error
    // ("none is set") would only repeat it.
    const hasLegacy = o.legacy !== undefined && Object.keys(o.legacy).some((k) => v[k] !== undefined);
    for (const group of hasLegacy ? [] : o.exactlyOneOf ?? []) {
      const set = group.filter((k) => v[k] !== undefined && v[k] !== null);
      if (set.length !== 1) {
        const got = set.length === 0 ? 'none is set' : `${set.join(' and ')} are set`;
        const rule = o.exactlyOneOfCel ? `exactly one of the fields in [${group.join(' ')}] must be set` : `exactly one of ${group.join(', ')} must be set`;
        cx.error(path || '(root)', `${rule} (${got})`);
      }
    }
    return out as InferShape<S>;
  }
}

/** `table[key]` when the table itself has it (not `constructor`, `toString`… from Object.prototype). */
function ownEntry<T>(table: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return table !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
}

export function obj<S extends Shape>(shape: S, o: ObjectOptions = {}): ObjectSchema<S> {
  return new ObjectSchema(shape, o);
}

export type { ObjectSchema };

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

// ---------------------------------------------------------------------------------------------
// "did you mean"

/** The closest candidate within a small edit distance (typos, case, plural), or undefined. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const cl = c.toLowerCase();
    if (cl === w) return c;
    // The distance is at least the length difference, and the limit is at most 3: skip the
    // (length × length) table for a key that cannot be a typo (a 4 MB key took seconds and GBs).
    if (Math.abs(cl.length - w.length) > 3) continue;
    const d = editDistance(w, cl);
    const limit = Math.max(1, Math.min(3, Math.floor(Math.max(w.length, cl.length) / 4)));
    if (d <= limit && d < bestD) {
      best = c;
      bestD = d;
    }
  }
  if (best !== undefined) return best;
  // `hostname` for `host`, `header` for `headers`: one name is a prefix of the other.
  return candidates.find((c) => {
    const cl = c.toLowerCase();
    return Math.min(cl.length, w.length) >= 4 && (w.startsWith(cl) || cl.startsWith(w));
  });
}

function editDistance(a: string, b: string): number {
  // Optimal string alignment (Levenshtein + adjacent transposition).
  const m = a.length;
  const n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => [i, ...new Array<number>(n).fill(0)]);
  for (let j = 1; j <= n; j++) d[0]![j] = j;
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[m]![n]!;
}
