// TrafficPolicy `rbac` (spec §2.3, §5): CEL match expressions evaluated the way Envoy's RBAC
// filter does with the matcher kgateway builds (an `or` of `cel_matcher`s over
// HttpAttributesCelMatchInput; Allow denies what no expression matches, Deny denies what one
// does). Expressions are parsed and checked once, when the snapshot is built, with what Envoy's
// CEL builder (filters/common/expr/evaluator.cc) accepts: comprehensions (`exists`, `all`, `map`,
// `filter`) and functions it does not register (`split`, `lowerAscii`, `string()`) make Envoy
// refuse the whole route configuration, so here they make the policy invalid. At request time an
// expression matches only when it evaluates to `true`: any error (a missing header or claim, a
// wrong type, string or list `+`) is no match, as cel_matcher's `eval_result.ok() && IsBool()`.
//
// Evaluation uses @bufbuild/cel (CEL-spec conformance-tested: heterogeneous equality as cel-cpp,
// errors absorbed by `||`/`&&` as the spec says) with `matches()` on re2js, RE2's own semantics
// and linear time, with RE2::PartialMatch (search) as cel-cpp.

import { celEnv, celFunc, CelScalar, isCelError, listType, parse, plan, type CelInput } from '@bufbuild/cel';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { RE2JS } from 're2js';
import { isUpgrade } from '../http/connection-header.js';
import type { GatewayRequest } from '../http/exchange.js';
import { REMOVED_BEFORE_FILTERS } from '../proxy/header-rules.js';

/** A parsed `Expr` node of @bufbuild/cel (cel.expr.Expr), only what the checks read. */
interface ExprNode {
  readonly exprKind:
    | { readonly case: 'identExpr'; readonly value: { readonly name: string } }
    | { readonly case: 'selectExpr'; readonly value: { readonly operand?: ExprNode; readonly field: string; readonly testOnly: boolean } }
    | { readonly case: 'callExpr'; readonly value: { readonly target?: ExprNode; readonly function: string; readonly args: readonly ExprNode[] } }
    | { readonly case: 'listExpr'; readonly value: { readonly elements: readonly ExprNode[] } }
    | { readonly case: 'structExpr'; readonly value: { readonly messageName: string; readonly entries: readonly { readonly value?: ExprNode; readonly keyKind: { readonly case: string; readonly value?: unknown } }[] } }
    | { readonly case: 'comprehensionExpr'; readonly value: unknown }
    | { readonly case: 'constExpr'; readonly value: { readonly constantKind: { readonly case: string; readonly value?: unknown } } }
    | { readonly case: undefined; readonly value?: undefined };
}

/**
 * The functions cel-cpp's standard library registers under Envoy's options (string conversion,
 * string/list concatenation and the string extensions off; regex on). Any other name has no
 * overload, and Envoy refuses to build the expression.
 */
const FUNCTIONS = new Set([
  '_?_:_', '_&&_', '_||_', '!_', '-_', '_==_', '_!=_', '_<_', '_<=_', '_>_', '_>=_',
  '_+_', '_-_', '_*_', '_/_', '_%_', '_[_]', '@in',
  'size', 'contains', 'startsWith', 'endsWith', 'matches',
  'int', 'uint', 'double', 'bytes', 'bool', 'dyn', 'type', 'timestamp', 'duration',
  'getFullYear', 'getMonth', 'getDayOfYear', 'getDayOfMonth', 'getDate', 'getDayOfWeek',
  'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds',
]);

/** The `request` attributes jwtgate provides, as Envoy's (docs: advanced/attributes). */
const REQUEST_FIELDS = new Set(['path', 'url_path', 'host', 'scheme', 'method', 'headers', 'referer', 'useragent', 'time', 'id', 'protocol', 'query', 'size', 'duration']);

/**
 * Variables kgateway declares (its validation environment) that jwtgate cannot give Envoy's
 * values: an expression that reads them would match differently, so the policy is refused.
 */
const NOT_PROVIDED: Readonly<Record<string, string>> = {
  source: 'the client\'s port is not available from uWebSockets.js, and Envoy\'s source.address is "ip:port"',
  destination: 'the listener\'s local address is not available from uWebSockets.js',
  connection: 'jwtgate has no TLS listeners or connection attributes',
};

/**
 * Deepest expression tree accepted. Parsers bound recursion (cel-go's parser at 250); a deeper
 * tree (a 16 KiB `1+1+…`) would overflow the planner's and evaluator's stacks.
 */
const MAX_DEPTH = 250;

/** Envoy's `regex_max_program_size` for CEL (evaluator.cc); re2js counts close to RE2 C++. */
const MAX_REGEX_PROGRAM_SIZE = 100;

/** The patterns written in expressions, compiled when the config is loaded; a reload keeps only its own. */
const constantRegexes = new Map<string, RE2JS>();
/** During a reload's compile: the written patterns it uses, and those it added. */
let loading: { readonly used: Set<string>; readonly added: Set<string> } | undefined;

/** A reload's compile begins: the written patterns it uses are noted. */
export function startRegexLoad(): void {
  loading = { used: new Set(), added: new Set() };
}

/**
 * A reload's compile ended. Applied (`applied`): the written patterns only the configuration
 * it replaced used are forgotten (a request of that configuration still in flight compiles its
 * pattern again, into the bounded cache). Not applied: those the compile added are forgotten.
 */
export function endRegexLoad(applied: boolean): void {
  if (!loading) return;
  const { used, added } = loading;
  loading = undefined;
  for (const p of [...constantRegexes.keys()]) if (applied ? !used.has(p) : added.has(p)) constantRegexes.delete(p);
}
/** Patterns taken from a request (`matches(request.headers['x'])`): bounded, so a client cannot grow it. */
const dynamicRegexes = new Map<string, RE2JS>();

/** How many patterns each cache holds, and whether `pattern` is a load-time one (for tests and the dump). */
export function regexCacheState(pattern?: string): { constant: number; dynamic: number; isConstant: boolean } {
  return { constant: constantRegexes.size, dynamic: dynamicRegexes.size, isConstant: pattern !== undefined && constantRegexes.has(pattern) };
}

function compileRegex(pattern: string, constant = false): RE2JS {
  let re = constantRegexes.get(pattern) ?? dynamicRegexes.get(pattern);
  if (re === undefined) {
    re = RE2JS.compile(pattern);
    if (re.programSize() > MAX_REGEX_PROGRAM_SIZE) throw new Error(`regular expression program size ${re.programSize()} is over Envoy's limit of ${MAX_REGEX_PROGRAM_SIZE}`);
    // The first match runs re2js's slow first pass: at load time for a written pattern.
    if (constant) {
      re.matcher('').find();
      constantRegexes.set(pattern, re);
      loading?.added.add(pattern);
    } else {
      if (dynamicRegexes.size >= 1000) dynamicRegexes.clear();
      dynamicRegexes.set(pattern, re);
    }
  } else if (constant && !constantRegexes.has(pattern)) {
    constantRegexes.set(pattern, re);
    loading?.added.add(pattern);
  }
  if (constant) loading?.used.add(pattern);
  return re;
}

function disabled(what: string): () => never {
  return () => {
    throw new Error(`${what} is not enabled in Envoy's CEL`);
  };
}

const LIST = listType(CelScalar.DYN);
// The same overload ids as the standard `+` on strings, bytes and lists replace them: an error at
// evaluation (no match), as cel-cpp without string and list concatenation.
const env = celEnv({
  funcs: [
    celFunc('_+_', [CelScalar.STRING, CelScalar.STRING], CelScalar.STRING, disabled('string concatenation')),
    celFunc('_+_', [CelScalar.BYTES, CelScalar.BYTES], CelScalar.BYTES, disabled('bytes concatenation')),
    celFunc('_+_', [LIST, LIST], LIST, disabled('list concatenation')),
  ],
  re2: {
    compile: (pattern: string) => {
      const re = compileRegex(pattern);
      return { test: (s: string) => re.matcher(s).find() };
    },
  },
});

export type CompiledExpression = (vars: Record<string, CelInput>) => boolean;

export type ExpressionResult = { readonly ok: true; readonly match: CompiledExpression } | { readonly ok: false; readonly error: string };

/** Parses and checks one matchExpressions item; the error says what Envoy or kgateway refuses. */
export function compileExpression(source: string): ExpressionResult {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return { ok: false, error: `CEL syntax error: ${msg.replace(/^<input>:/, 'at ')}` };
  }
  const problems: string[] = [];
  if (depth(parsed.expr as unknown as ExprNode | undefined) > MAX_DEPTH) return { ok: false, error: `the expression nests deeper than ${MAX_DEPTH} levels: split it into several matchExpressions (they are OR-ed)` };
  let run: ReturnType<typeof plan>;
  try {
    check(parsed.expr as unknown as ExprNode | undefined, problems);
    if (problems.length > 0) return { ok: false, error: [...new Set(problems)].join('; ') };
    run = plan(env, parsed);
  } catch (err) {
    return { ok: false, error: `CEL expression refused: ${err instanceof Error ? err.message : String(err)}` };
  }
  return {
    ok: true,
    match: (vars) => {
      try {
        const r = run(vars);
        return r === true && !isCelError(r);
      } catch {
        return false;
      }
    },
  };
}

/** The tree's depth, up to just over MAX_DEPTH (iterative: a deep tree must not overflow here either). */
function depth(root: ExprNode | undefined): number {
  let max = 0;
  const stack: [ExprNode, number][] = root ? [[root, 1]] : [];
  while (stack.length > 0) {
    const [e, d] = stack.pop()!;
    if (d > max) max = d;
    if (max > MAX_DEPTH) return max;
    for (const c of children(e)) stack.push([c, d + 1]);
  }
  return max;
}

function children(e: ExprNode): ExprNode[] {
  const k = e.exprKind;
  switch (k.case) {
    case 'selectExpr':
      return k.value.operand ? [k.value.operand] : [];
    case 'callExpr':
      return [...(k.value.target ? [k.value.target] : []), ...k.value.args];
    case 'listExpr':
      return [...k.value.elements];
    case 'structExpr':
      return k.value.entries.flatMap((en) => [...(en.keyKind.case === 'mapKey' ? [en.keyKind.value as ExprNode] : []), ...(en.value ? [en.value] : [])]);
    default:
      return [];
  }
}

/** CEL's type denotations, usable as identifiers (`type(x) == double`). */
const TYPE_NAMES = new Set(['int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type']);

function check(e: ExprNode | undefined, problems: string[]): void {
  if (e === undefined) return;
  const k = e.exprKind;
  switch (k.case) {
    case 'identExpr': {
      const name = k.value.name;
      if (name === 'request' || name === 'metadata' || TYPE_NAMES.has(name)) return;
      const why = NOT_PROVIDED[name];
      problems.push(why !== undefined ? `${name} is not available in jwtgate: ${why}` : `undeclared reference to '${name}': the variables are request and metadata (source, destination and connection are not available in jwtgate)`);
      return;
    }
    case 'selectExpr': {
      const operand = k.value.operand;
      if (operand?.exprKind.case === 'identExpr' && operand.exprKind.value.name === 'request') checkRequestField(k.value.field, problems);
      check(operand, problems);
      return;
    }
    case 'callExpr': {
      const fn = k.value.function;
      if (!FUNCTIONS.has(fn)) {
        problems.push(
          fn === 'string'
            ? "string() is not enabled in Envoy's CEL (no string conversion): Envoy refuses the expression"
            : `function '${fn}' is not available in Envoy's CEL (no overload): Envoy refuses the expression`,
        );
      }
      if (fn === '_[_]') {
        // request['path'] reads an attribute as request.path does.
        const [target, index] = k.value.args;
        if (target?.exprKind.case === 'identExpr' && target.exprKind.value.name === 'request' && index?.exprKind.case === 'constExpr' && index.exprKind.value.constantKind.case === 'stringValue') {
          checkRequestField(String(index.exprKind.value.constantKind.value), problems);
        }
      }
      if (fn === 'matches') {
        // A constant pattern is compiled when Envoy builds the expression: a bad one is refused there.
        const pattern = (k.value.target ? k.value.args[0] : k.value.args[1])?.exprKind;
        if (pattern?.case === 'constExpr' && pattern.value.constantKind.case === 'stringValue') {
          const p = String(pattern.value.constantKind.value);
          try {
            compileRegex(p, true);
          } catch (err) {
            problems.push(`invalid regular expression "${p}" (RE2 syntax, as Envoy reads it): ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      }
      check(k.value.target, problems);
      for (const a of k.value.args) check(a, problems);
      return;
    }
    case 'listExpr':
      for (const x of k.value.elements) check(x, problems);
      return;
    case 'structExpr':
      // A map literal; a message literal (`google.protobuf.Value{…}`) is left to the evaluator.
      for (const entry of k.value.entries) {
        if (entry.keyKind.case === 'mapKey') check(entry.keyKind.value as ExprNode, problems);
        check(entry.value, problems);
      }
      return;
    case 'comprehensionExpr':
      problems.push("comprehensions (the macros exists, all, exists_one, map, filter) are disabled in Envoy's CEL: Envoy refuses the expression");
      return;
    default:
      return;
  }
}

function checkRequestField(field: string, problems: string[]): void {
  if (REQUEST_FIELDS.has(field)) return;
  problems.push(
    field === 'total_size' || field === 'headers_bytes'
      ? `request.${field} is not provided by jwtgate`
      : `request.${field} is not an Envoy request attribute (they are ${[...REQUEST_FIELDS].join(', ')}, and total_size, headers_bytes)`,
  );
}

/** A route's effective `rbac`: Allow admits only what an expression matches, Deny refuses it. */
export interface RbacPolicy {
  readonly action: 'Allow' | 'Deny';
  readonly expressions: readonly CompiledExpression[];
  /** Some expression reads jwt_authn's metadata (the claims): `check` warns where no JWT check runs. */
  readonly readsClaims: boolean;
  /** `TrafficPolicy/ns/name@Level`, for `check` and the dump. */
  readonly origin: string;
}

export const JWT_METADATA = 'envoy.filters.http.jwt_authn';
const DISABLE_METADATA = 'dev.kgateway.disable_jwt';
const EMPTY: ReadonlyMap<string, unknown> = new Map();
const DISABLED_JWT = new Map([['disable', true]]);

/**
 * Whether `policy` lets the request through. `claims`: the payload jwt_authn would write to its
 * dynamic metadata (the last token a JWT filter verified), undefined when none did; `jwtDisabled`:
 * a `jwtAuth.disable` applies (kgateway's set_metadata filter wrote `dev.kgateway.disable_jwt`);
 * `startedAtMs`: when the request arrived (`request.time`, the stream's start in Envoy).
 */
export function rbacAllows(policy: RbacPolicy, req: GatewayRequest, claims: Readonly<Record<string, unknown>> | undefined, jwtDisabled: boolean, startedAtMs = Date.now()): boolean {
  const vars = activation(req, claims, jwtDisabled, startedAtMs);
  let matched = false;
  for (const m of policy.expressions) {
    if (m(vars)) {
      matched = true;
      break;
    }
  }
  return policy.action === 'Allow' ? matched : !matched;
}

/**
 * Envoy looks a header up by its lowercased name (HeadersWrapper: LowerCaseString(key)), so
 * `request.headers['X-Role']` reads `x-role`.
 */
class HeaderMap extends Map<string, string> {
  override get(key: string): string | undefined {
    return super.get(typeof key === 'string' && /[A-Z]/.test(key) ? key.replace(/[A-Z]/g, (c) => c.toLowerCase()) : key);
  }
  override has(key: string): boolean {
    return this.get(key) !== undefined;
  }
}

const INT64_MAX = 9223372036854775807n;

/** Envoy's attributes of the request as its RBAC filter sees it (after the JWT filters). */
export function activation(req: GatewayRequest, claims: Readonly<Record<string, unknown>> | undefined, jwtDisabled: boolean, startedAtMs = Date.now()): Record<string, CelInput> {
  const h = req.headers;
  const query = req.queryAsEnvoy ?? req.query;
  const path = query === '' ? req.path : `${req.path}?${query}`;
  const upgrade = isUpgrade(h);
  const headers = new HeaderMap([
    [':authority', req.authority],
    [':path', path],
    [':method', req.method],
    [':scheme', req.scheme],
  ]);
  // Repeated fields joined with "," (HeaderMap getAllOfHeaderAsString).
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    // What Envoy's connection manager removed before the filters (mutateRequestHeaders).
    if (REMOVED_BEFORE_FILTERS.has(name) || (!upgrade && (name === 'connection' || name === 'upgrade'))) continue;
    // Envoy answers `Expect: 100-continue` itself and removes it (proxy_100_continue off).
    if (name === 'expect' && h[i + 1]!.toLowerCase() === '100-continue') continue;
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? h[i + 1]! : `${prev},${h[i + 1]!}`);
  }
  const request = new Map<string, unknown>([
    ['path', path],
    ['url_path', req.path],
    ['host', req.authority],
    ['scheme', req.scheme],
    ['method', req.method],
    ['headers', headers],
    // Envoy's request.query stops at a '#' (one can be there once a token's removal decoded it).
    ['query', query.includes('#') ? query.slice(0, query.indexOf('#')) : query],
    ['protocol', 'HTTP/1.1'],
    ['time', timestampFromMs(Math.floor(startedAtMs))],
  ]);
  // Absent headers leave the attribute missing (an error, so no match), as in Envoy.
  const referer = headers.get('referer');
  if (referer !== undefined) request.set('referer', referer);
  const ua = headers.get('user-agent');
  if (ua !== undefined) request.set('useragent', ua);
  const id = headers.get('x-request-id');
  if (id !== undefined) request.set('id', id);
  // The body's size from content-length when there is one (missing when it is not an int64, as
  // Envoy's SimpleAtoi fails: "2,2" for a repeated one), else what was received with the head:
  // nothing yet (RBAC runs on the request head).
  const cl = headers.get('content-length');
  if (cl === undefined) request.set('size', 0n);
  else if (/^[0-9]{1,19}$/.test(cl) && BigInt(cl) <= INT64_MAX) request.set('size', BigInt(cl));
  const filterMetadata = new Map<string, unknown>();
  if (claims !== undefined) filterMetadata.set(JWT_METADATA, new Map([['payload', claims]]));
  if (jwtDisabled) filterMetadata.set(DISABLE_METADATA, DISABLED_JWT);
  return {
    request: request as CelInput,
    metadata: new Map<string, unknown>([
      ['filter_metadata', filterMetadata],
      ['typed_filter_metadata', EMPTY],
    ]) as CelInput,
  };
}
