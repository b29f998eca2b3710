// Reads manifest files and folders into RawResources: multi-document YAML (JSON is YAML too),
// `kind: List` expanded, empty documents skipped, line numbers kept for every field path.
// Syntax errors and limits become ConfigProblems with file:line; nothing here throws on bad
// input and nothing here validates fields beyond a document's identity (kind, apiVersion, name).

import { createReadStream } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { Composer, CST, isMap, isPair, isScalar, isSeq, LineCounter, Parser, YAMLParseError, type Document, type Node as YamlNode } from 'yaml';
import type { ConfigProblem } from '../errors.js';
import type { RawResource } from './resource.js';
import { isObject as isPlainObject, suggest } from './schema.js';
import { GATEWAY_API_GROUP, KGATEWAY_GROUP } from './validate-common.js';
import { cutText } from '../util/text.js';

/** Files larger than this are refused (4 MiB). */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** More resources than this across all inputs are refused. */
export const MAX_RESOURCES = 10_000;
/**
 * Documents read across all inputs, valid or not (empty ones included): beyond it the rest is
 * not read. Invalid documents counted nowhere let 4 MiB of `--- {}` make millions of problems.
 */
export const MAX_DOCUMENTS = 20_000;
const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
/** The fields of a `kind: List` (or a typed list such as TrafficPolicyList). */
const LIST_KEYS = ['apiVersion', 'kind', 'metadata', 'items'];
const limitReported = new WeakSet<LoadResult>();

export interface LoadResult {
  resources: RawResource[];
  problems: ConfigProblem[];
  /** Documents read so far (see MAX_DOCUMENTS). */
  documents?: number;
}

/**
 * Loads files and folders (recursively; `.yaml`, `.yml`, `.json`; sorted by path; entries whose
 * name starts with `.` are skipped, which also skips Kubernetes ConfigMap-mount `..data` links;
 * a skipped `.x.yaml` manifest is warned about). A file named explicitly is read whatever its
 * extension, and may be a pipe or device (`/dev/stdin`), read up to the same 4 MiB.
 */
export async function loadManifests(paths: readonly string[]): Promise<LoadResult> {
  const out: LoadResult = { resources: [], problems: [] };
  const files: string[] = [];
  /** Files named on the command line rather than found in a folder. */
  const named = new Set<string>();
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch (err) {
      out.problems.push(fileProblem(p, `cannot read: ${errText(err)}`));
      continue;
    }
    if (st.isDirectory()) {
      const found: string[] = [];
      await walk(p, found, out.problems, new Set());
      found.sort();
      files.push(...found);
    } else {
      files.push(p);
      named.add(p);
    }
  }
  const seen = new Set<string>();
  for (const file of files) {
    // The same file reached twice (named twice, or through a symbolic link) is read once.
    const abs = await realpath(file).catch(() => path.resolve(file));
    if (seen.has(abs)) continue;
    seen.add(abs);
    if (limitReported.has(out)) break;
    let st;
    try {
      st = await stat(file);
    } catch (err) {
      out.problems.push(fileProblem(file, `cannot read: ${errText(err)}`));
      continue;
    }
    if (st.size > MAX_FILE_BYTES) {
      out.problems.push(fileProblem(file, `file is ${st.size} bytes; the limit is ${MAX_FILE_BYTES} bytes (4 MiB): split it`));
      continue;
    }
    let bytes: Buffer | undefined;
    try {
      // A pipe or device has no size to check first (/dev/zero never ends): read with the limit.
      bytes = st.isFile() ? await readFile(file) : await readBounded(file, MAX_FILE_BYTES);
    } catch (err) {
      out.problems.push(fileProblem(file, `cannot read: ${errText(err)}`));
      continue;
    }
    if (bytes === undefined) {
      out.problems.push(fileProblem(file, `more than ${MAX_FILE_BYTES} bytes (4 MiB) read from it (not a regular file): the limit is 4 MiB`));
      continue;
    }
    let text: string;
    try {
      text = UTF8.decode(bytes);
    } catch {
      // Read leniently, a Latin-1 or UTF-16 file would load with U+FFFD in its values.
      out.problems.push(fileProblem(file, 'is not UTF-8 text (Kubernetes manifests are UTF-8): save it as UTF-8'));
      continue;
    }
    if (!parseInto(text, file, out)) {
      // An emptied or commented-out policy file loaded nothing, silently: its routes were
      // served without their JWT check.
      out.problems.push(
        named.has(file)
          ? { ...fileProblem(file, 'holds no resources (the file is empty or only comments): a file named with --config must hold manifests'), fatal: true }
          : { ...fileProblem(file, 'holds no resources (the file is empty or only comments)'), severity: 'warning' },
      );
    }
  }
  return out;
}

/** Same as loadManifests for one in-memory text; `sourceName` plays the file name in sources. */
export function loadManifestsFromText(text: string, sourceName = '<text>'): LoadResult {
  const out: LoadResult = { resources: [], problems: [] };
  if (Buffer.byteLength(text, 'utf8') > MAX_FILE_BYTES) {
    out.problems.push(fileProblem(sourceName, `text is larger than ${MAX_FILE_BYTES} bytes (4 MiB)`));
    return out;
  }
  parseInto(text, sourceName, out);
  return out;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Reads a stream (pipe, device) to its end; undefined when it holds more than `limit` bytes. */
function readBounded(file: string, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const stream = createReadStream(file, { highWaterMark: 64 * 1024 });
    stream.on('data', (c: string | Buffer) => {
      const chunk = typeof c === 'string' ? Buffer.from(c) : c;
      total += chunk.length;
      if (total > limit) {
        stream.destroy();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/**
 * What the manifests under `paths` are now, without reading them: for each file loadManifests
 * would read, its path, device, inode, size and change times. It changes when a manifest is
 * added, removed, rewritten or replaced (a ConfigMap mount's `..data` swap gives every file a new
 * inode). A path that cannot be read is part of it too. Named files that are not regular files
 * (`/dev/stdin`) are left out: they cannot be read twice.
 */
export async function configFingerprint(paths: readonly string[]): Promise<string> {
  const mark = async (file: string): Promise<string | undefined> => {
    try {
      const st = await stat(file);
      return st.isFile() ? `${file}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : undefined;
    } catch (err) {
      return `${file}\0${(err as NodeJS.ErrnoException).code ?? 'error'}`;
    }
  };
  const parts: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch (err) {
      parts.push(`${p}\0${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      continue;
    }
    const found: string[] = [];
    if (st.isDirectory()) await walk(p, found, [], new Set());
    else found.push(p);
    found.sort();
    // 64 at a time: a folder of thousands of files is looked at in tens of ms, not one stat after another.
    for (let i = 0; i < found.length; i += 64) {
      for (const m of await Promise.all(found.slice(i, i + 64).map(mark))) if (m !== undefined) parts.push(m);
    }
  }
  return parts.join('\n');
}

/** A name a folder walk reads as a manifest (.yaml, .yml, .json). */
function isManifestName(name: string): boolean {
  return EXTENSIONS.has(path.extname(name).toLowerCase());
}

async function walk(dir: string, files: string[], problems: ConfigProblem[], visited: Set<string>): Promise<void> {
  let entries;
  try {
    // A folder reached again through a symbolic link (a loop, or two links to one folder) is read once.
    const real = await realpath(dir);
    if (visited.has(real)) {
      problems.push({ ...fileProblem(dir, `skipped: the same folder as ${real}, already read (a symbolic link loop?)`), severity: 'warning' });
      return;
    }
    visited.add(real);
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    problems.push(fileProblem(dir, `cannot read folder: ${errText(err)}`));
    return;
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) {
      // `..data` and `..2024_…` are a ConfigMap mount's own entries; another hidden manifest
      // may hold a policy someone meant to apply (kubectl apply -f DIR reads it).
      if (!e.name.startsWith('..') && isManifestName(e.name)) {
        problems.push({ ...fileProblem(path.join(dir, e.name), 'skipped: a hidden file (its name starts with "."); rename it to have it read'), severity: 'warning' });
      }
      continue;
    }
    const full = path.join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      try {
        const st = await stat(full);
        isDir = st.isDirectory();
        isFile = st.isFile();
      } catch (err) {
        // A link to a manifest whose target is gone may have held a policy: never serve without
        // it silently. Links with other names are not read anyway.
        if (isManifestName(e.name)) {
          problems.push(fileProblem(full, `cannot read: ${errText(err)} (a symbolic link whose target cannot be read)`));
        }
        continue;
      }
    }
    if (isDir) await walk(full, files, problems, visited);
    else if (isFile && isManifestName(e.name)) files.push(full);
  }
}

/** Reads the documents of `text` into `out`; false when every one was empty (`---`, comments). */
function parseInto(text: string, file: string, out: LoadResult): boolean {
  // A byte order mark opens the file, or a document after `---` (files concatenated).
  if (text.includes('\uFEFF')) text = text.replace(/(^|\n)\uFEFF/g, '$1');
  // YAML 1.2 (and kubectl's go-yaml) break lines at a lone CR too; the yaml package does not, so
  // a file saved with old Mac line endings read as one comment line: empty, silently. One
  // character for one keeps every offset.
  if (text.includes('\r')) text = text.replace(/\r(?!\n)/g, '\n');
  text = stripHeredocs(text, file, out);
  // Several JSON objects one after the other (`jq -c '.items[]'`, one per line), as kubectl reads
  // them: each a document. A `---` line is put after each but the last; positions are mapped back
  // to the text as written, so lines and columns are the file's.
  const original = text;
  const inserted = jsonStreamEnds(text);
  if (inserted.length > 0) {
    let at = 0;
    const parts: string[] = [];
    for (const end of inserted) {
      parts.push(text.slice(at, end), JSON_STREAM_SEPARATOR);
      at = end;
    }
    parts.push(text.slice(at));
    text = parts.join('');
  }
  const lineCounter = new LineCounter();
  const originalLines = inserted.length === 0 ? lineCounter : countLines(original);
  /** A position in `text` in the text as written (before the `---` lines put between JSON objects). */
  const written = (offset: number): number => {
    let before = 0;
    for (let lo = 0, hi = inserted.length; lo < hi; ) {
      const mid = (lo + hi) >> 1;
      if (inserted[mid]! + (mid + 1) * JSON_STREAM_SEPARATOR.length <= offset) {
        before = mid + 1;
        lo = mid + 1;
      } else hi = mid;
    }
    return Math.max(0, Math.min(original.length, offset - before * JSON_STREAM_SEPARATOR.length));
  };
  const linePos = (offset: number): { line: number; col: number } => originalLines.linePos(inserted.length === 0 ? offset : written(offset));
  const lineOf = (offset: number | undefined): number => (offset === undefined ? 1 : linePos(offset).line || 1);
  // Documents are composed one at a time, so reading stops at MAX_DOCUMENTS instead of building
  // a million of them first. merge: YAML 1.1 `<<` merge keys, which kubectl accepts.
  // logLevel: the yaml package's own warnings (a key that is a map, which an unrendered
  // `{{ .Values.x }}` is) went to stderr as a raw Node warning line, outside the JSON log; they
  // are reported as problems instead (templatesIn).
  // uniqueKeys: false, because the yaml package compares each key with every key before it (a
  // 550 KB mapping of 40,000 keys took 12 s, a 4 MiB one would take minutes on the event loop);
  // duplicateKeys() finds the same duplicates in one pass.
  const composer = new Composer({ uniqueKeys: false, merge: true, logLevel: 'error' });
  // The last few CST tokens, to find where an unclosed `[`, `{` or quote began (the yaml package
  // reports such an error where it noticed it: the next key's line).
  const recent: CST.Token[] = [];
  const tee = function* (tokens: Generator<CST.Token>): Generator<CST.Token> {
    for (const t of tokens) {
      recent.push(t);
      if (recent.length > 8) recent.shift();
      yield t;
    }
  };
  const docs = composer.compose(tee(new Parser(lineCounter.addNewLine).parse(text)));
  const at = (offset: number): string => {
    const { line, col } = linePos(offset);
    return `${file}:${line || 1}:${col || 1}`;
  };
  let held = false;
  for (;;) {
    let next;
    try {
      next = docs.next();
    } catch (err) {
      out.problems.push(fileProblem(file, `YAML: ${yamlErrText(err)}`, `${file}:1`));
      return true;
    }
    if (next.done) break;
    const doc = next.value;
    out.documents = (out.documents ?? 0) + 1;
    if (out.documents > MAX_DOCUMENTS) {
      if (!limitReported.has(out)) {
        limitReported.add(out);
        out.problems.push(fileProblem(file, `more than ${MAX_DOCUMENTS} documents: this one and the rest are not read`, `${file}:${lineOf(doc.range?.[0])}`));
      }
      return true;
    }
    const docLine = lineOf(doc.range?.[0]);
    for (const w of doc.warnings) {
      // An unknown tag (`!Ref`) is read as a plain value: say so rather than let it pass.
      const line = lineOf(w.pos?.[0]);
      out.problems.push({ ...fileProblem(file, `YAML: ${firstLine(w.message)}`, `${file}:${line}`), severity: 'warning' });
    }
    duplicateKeys(doc, lineOf);
    if (doc.errors.length > 0) {
      held = true;
      for (const e of doc.errors) {
        let what = /call stack/.test(e.message) ? 'the document is nested too deeply to read' : firstLine(e.message);
        const pos = e.pos?.[0] ?? doc.range[0];
        // An unclosed flow collection or quoted string: reported where it began, not at the next line.
        const open = e.code === 'DUPLICATE_KEY' ? undefined : unclosedBefore(recent, doc.range[0], pos, e.message);
        if (open !== undefined) {
          const { line, col } = linePos(pos);
          what += ` (the ${open.what} opened here is not closed; the parser noticed at line ${line}, column ${col})`;
        }
        out.problems.push({ ...fileProblem(file, `YAML syntax error: ${what}`, at(open?.offset ?? pos)), ...(e instanceof DuplicateKeyError ? { path: e.path } : {}) });
      }
      // A template directive on its own line (`{{- if .Values.x }}`) breaks the YAML: say why.
      const docText = text.slice(doc.range[0], doc.range[2]);
      const m = templateOutsideComments(docText);
      if (m) out.problems.push({ ...fileProblem(file, templateMessage(m.text), `${file}:${lineOf(doc.range[0] + m.index)}`), fatal: true });
      continue;
    }
    const contents = doc.contents as YamlNode | null;
    if (contents === null || contents === undefined) continue; // empty document (`---` only, comments)
    if (isScalar(contents) && (contents.value === null || contents.value === '')) continue;
    held = true;
    const templates: TemplateFound[] = [];
    templatesIn(contents, '', text, templates);
    if (templates.length > 0) {
      // Read as YAML, `{{ .Values.x }}` is a map in a map: the document means nothing as written.
      for (const t of templates) {
        const message = t.template ? templateMessage(t.text) : `a key that is a ${t.text.startsWith('[') || t.text.startsWith('-') ? 'list' : 'map'} (\`${short(t.text)}\`): manifest keys are strings`;
        out.problems.push({ ...fileProblem(file, message, `${file}:${lineOf(t.offset)}`), path: t.path, fatal: true });
      }
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      out.problems.push(fileProblem(file, `YAML: ${yamlErrText(err)}`, `${file}:${docLine}`));
      continue;
    }
    if (!isMap(contents) || !isPlainObject(value)) {
      out.problems.push(fileProblem(file, 'document is not a mapping (expected apiVersion, kind, metadata, spec)', `${file}:${lineOf(contents.range?.[0])}`));
      continue;
    }
    // `kind: List`, or a typed list such as `TrafficPolicyList` (kubectl get -o yaml).
    if (typeof value['kind'] === 'string' && value['kind'].endsWith('List') && !('spec' in value)) {
      const listLine = lineOf(contents.range?.[0]);
      // A misspelt `items` (`itmes`, `Items`) once dropped every resource in the list silently.
      let badKey = false;
      for (const pair of contents.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key === undefined || LIST_KEYS.includes(key)) continue;
        badKey = true;
        const close = suggest(key, LIST_KEYS);
        const hint = close ? `did you mean "${close}"? ` : '';
        const at = `${file}:${lineOf((pair.key as YamlNode).range?.[0])}`;
        out.problems.push({ ...fileProblem(file, `unknown field "${key}" in a ${value['kind']}: ${hint}a list takes only apiVersion, kind, metadata and items (kubectl's strict decoding refuses it; the resources under it would not be read)`, at), path: key, fatal: true });
      }
      const rawItems = value['items'];
      if (rawItems === undefined || rawItems === null || (Array.isArray(rawItems) && rawItems.length === 0)) {
        if (!badKey) out.problems.push({ ...fileProblem(file, `a ${value['kind']} with no items: it holds no resources`, `${file}:${listLine}`), severity: 'warning' });
        continue;
      }
      if (!Array.isArray(rawItems)) {
        out.problems.push(fileProblem(file, `a ${value['kind']}'s items must be a list of resources`, `${file}:${listLine}`));
        continue;
      }
      const itemsNode = contents.get('items', true);
      for (let i = 0; i < rawItems.length; i++) {
        const node = isSeq(itemsNode) ? (itemsNode.items[i] as YamlNode | undefined) : undefined;
        const line = lineOf(node?.range?.[0]) || docLine;
        const item: unknown = rawItems[i];
        if (isPlainObject(item) && typeof item['kind'] === 'string' && item['kind'].endsWith('List') && !('spec' in item)) {
          out.problems.push(fileProblem(file, `items[${i}]: a list inside a list is not supported: write its items in the outer list`, `${file}:${line}`));
          continue;
        }
        addResource(item, node, file, line, lineOf, out, `items[${i}]`);
      }
      continue;
    }
    const firstKeyLine = lineOf(contents.range?.[0]);
    addResource(value, contents, file, firstKeyLine, lineOf, out);
  }
  return held;
}

function addResource(
  value: unknown,
  node: YamlNode | undefined,
  file: string,
  line: number,
  lineOf: (offset: number | undefined) => number,
  out: LoadResult,
  itemPath?: string,
): void {
  const source = `${file}:${line}`;
  const where = itemPath ? `${itemPath}: ` : '';
  if (!isPlainObject(value)) {
    out.problems.push(fileProblem(file, `${where}not a mapping (expected apiVersion, kind, metadata, spec)`, source));
    return;
  }
  if (out.resources.length >= MAX_RESOURCES) {
    if (!limitReported.has(out)) {
      limitReported.add(out);
      out.problems.push(fileProblem(file, `more than ${MAX_RESOURCES} resources: this one and the rest are ignored`, source));
    }
    return;
  }
  const kind = typeof value['kind'] === 'string' ? value['kind'] : '';
  const apiVersion = typeof value['apiVersion'] === 'string' ? value['apiVersion'] : '';
  // A kustomization.yaml in the folder: its namespace, patches and resources would apply to the
  // manifests next to it, which are read as they are instead (a policy left in `default`).
  if (apiVersion.startsWith('kustomize.config.k8s.io/') || ((kind === 'Kustomization' || kind === 'Component') && !apiVersion.includes('/'))) {
    const dir = path.dirname(file) || '.';
    out.problems.push({ ...fileProblem(file, `${where}a kustomize file (${kind || 'kind not set'}), not a manifest: render it with \`kubectl kustomize ${dir}\` and pass the output (kustomize's namespace, patches and resources are not applied to the manifests read here)`, source), fatal: true });
    return;
  }
  const meta = isPlainObject(value['metadata']) ? value['metadata'] : undefined;
  const name = meta && typeof meta['name'] === 'string' ? meta['name'] : '';
  const namespace = meta && typeof meta['namespace'] === 'string' && meta['namespace'] !== '' ? meta['namespace'] : 'default';
  const id = `${kind || '?'}/${namespace}/${name || '?'}`;
  const lines = new Map<string, number>();
  if (node) collectLines(node, '', lines, lineOf);
  // The field's own line when it is in the document, else the document's.
  const at = (p: string): string => `${file}:${lines.get(p) ?? line}`;
  let ok = true;
  const bad = (p: string, message: string): void => {
    ok = false;
    out.problems.push({ resource: id, path: p, message, severity: 'error', source: at(p) });
  };
  if (!kind) bad('kind', value['kind'] === undefined ? 'Required value: every document needs a kind' : 'kind must be a non-empty string');
  if (!apiVersion) bad('apiVersion', value['apiVersion'] === undefined ? 'Required value: every document needs an apiVersion' : 'apiVersion must be a string');
  if (!meta) bad('metadata', 'Required value: metadata.name is needed');
  else if (!name) bad('metadata.name', meta['name'] === undefined ? 'Required value' : 'metadata.name must be a non-empty string');
  if (meta && meta['namespace'] !== undefined && typeof meta['namespace'] !== 'string') bad('metadata.namespace', 'must be a string');
  if (!ok) return;
  const quoted: { path: string; text: string }[] = [];
  // Only in what jwtgate reads: other projects' templates that render at run time (an Argo CD
  // ApplicationSet's `name: '{{.cluster}}-app'`) are not unrendered.
  const group = apiVersion.slice(0, Math.max(0, apiVersion.indexOf('/')));
  if (group === KGATEWAY_GROUP || group === GATEWAY_API_GROUP || (apiVersion === 'v1' && (kind === 'ConfigMap' || kind === 'Secret'))) quotedTemplates(value, '', quoted);
  for (const q of quoted) {
    out.problems.push({ resource: id, path: q.path, message: `looks like an unrendered template \`${short(q.text)}\`: render it first, e.g. \`helm template\` (as written, it names nothing that exists)`, severity: 'warning', source: at(q.path) });
  }
  const labels = stringMap(meta!['labels'], 'metadata.labels', id, at, out.problems);
  const annotations = stringMap(meta!['annotations'], 'metadata.annotations', id, at, out.problems);
  const ts = meta!['creationTimestamp'];
  const creationTimestamp = typeof ts === 'string' ? ts : ts instanceof Date ? ts.toISOString() : undefined;
  out.resources.push({
    apiVersion,
    kind,
    name,
    namespace,
    labels,
    annotations,
    ...(creationTimestamp !== undefined ? { creationTimestamp } : {}),
    object: value,
    source,
    file,
    lines,
  });
}

const JSON_STREAM_SEPARATOR = '\n---\n';

/**
 * Where each JSON object but the last ends (the offset after its `}`), when `text` is two or
 * more JSON objects separated by whitespace only (never valid YAML as it is); else []. One pass,
 * aware of strings and their escapes.
 */
function jsonStreamEnds(text: string): number[] {
  const ends: number[] = [];
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \\ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (depth === 0) {
      if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) continue;
      if (c !== 0x7b /* { */) return [];
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth < 0) return [];
      if (depth === 0) ends.push(i + 1);
    }
  }
  if (depth !== 0 || inString || ends.length < 2) return [];
  ends.pop();
  return ends;
}

/** A LineCounter for `text` (as the parser fills one: a line starts at 0 and after each LF). */
function countLines(text: string): LineCounter {
  const lc = new LineCounter();
  lc.addNewLine(0);
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lc.addNewLine(i + 1);
  return lc;
}

/**
 * A shell heredoc copied with a docs example (kgateway's docs wrap every one in
 * `kubectl apply -f- <<EOF` … `EOF`): the YAML parser's own errors said nothing useful, and a
 * lone trailing `EOF` lost the last document. Its lines, at the start of a line, are each an
 * error that says to keep only the YAML between them (fatal, as a syntax error is), and are read
 * as comments (offsets kept) so the rest of the file is still checked. Two examples pasted with
 * the first one's end missing, and a `cat <<EOF > file` that writes its heredoc to a file
 * instead of applying it, are named as such rather than left to a YAML syntax error that loses
 * the document under them.
 */
const HEREDOC_OPEN = /^(?:\$\s*)?(?=(?:kubectl|cat)\b)(?=[^#]*\bkubectl\b)[^#]*?<<-?[ \t]*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/;
/** `cat <<EOF > file` or `cat > file <<EOF`: a heredoc written to a file (no `:`, so never a YAML key `cat`). */
const CAT_HEREDOC_OPEN = /^(?:\$\s*)?cat\s[^#:]*?<<-?[ \t]*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/;

function stripHeredocs(text: string, file: string, out: LoadResult): string {
  if (!text.includes('<<') && !/^EOF[ \t]*$/m.test(text)) return text;
  const lines = text.split('\n');
  const blank = (i: number): void => {
    lines[i] = '#'.padEnd(lines[i]!.length, ' ');
  };
  const found = (line: number, message: string): void => {
    out.problems.push({ ...fileProblem(file, message, `${file}:${line}`), fatal: true });
  };
  const WRAP = "the shell heredoc kgateway's docs wrap each example in, copied with the manifest: not YAML";
  const CAT_WRAP = 'a shell heredoc written to a file (it applies nothing), copied with the manifest: not YAML';
  let open: { index: number; text: string; delimiter: string; kubectl: boolean } | undefined;
  let changed = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/[ \t\r]+$/, '');
    // Inside an open heredoc, only another kubectl wrapper is taken for a new example (the
    // shell would send the line to kubectl as YAML, where it is an error anyway).
    let m = open === undefined || open.kubectl ? HEREDOC_OPEN.exec(line) : null;
    const kubectl = m !== null;
    if (!m && open === undefined) m = CAT_HEREDOC_OPEN.exec(line);
    if (m) {
      if (open) {
        // The first example's closing line is missing: its heredoc ends here, as a `---` would.
        found(open.index + 1, `\`${open.text}\` (line ${open.index + 1}) opens ${WRAP}, and \`${short(line)}\` (line ${i + 1}) opens another before its closing \`${open.delimiter}\`: two examples pasted with the end of the first missing. Keep only the YAML of each (remove the shell lines, with a \`---\` line between the two examples)`);
        lines[i] = '---'.padEnd(lines[i]!.length, ' ');
      } else blank(i);
      open = { index: i, text: short(line), delimiter: m[2]!, kubectl };
      changed = true;
      continue;
    }
    if (line !== (open?.delimiter ?? 'EOF')) continue;
    // Each heredoc was its own `kubectl apply` input: its end separates documents, so two
    // examples pasted one after the other stay two resources.
    lines[i] = '---'.padEnd(lines[i]!.length, ' ');
    changed = true;
    if (open) {
      found(open.index + 1, `\`${open.text}\` (line ${open.index + 1}) and \`${line}\` (line ${i + 1}) are ${open.kubectl ? WRAP : CAT_WRAP}. Keep only the YAML between them (remove both lines, with a \`---\` line between two examples)`);
      open = undefined;
    } else {
      found(i + 1, `\`${line}\` (line ${i + 1}) is the end of ${WRAP.replace('the shell heredoc', 'the shell heredoc (`kubectl apply -f- <<EOF` … `EOF`)')}. Keep only the YAML before it (remove this line)`);
    }
  }
  if (open) {
    found(open.index + 1, `\`${open.text}\` (line ${open.index + 1}) opens ${open.kubectl ? WRAP : CAT_WRAP}. Keep only the YAML after it, up to its closing \`${open.delimiter}\` line (remove both)`);
  }
  return changed ? lines.join('\n') : text;
}

interface TemplateFound {
  /** Field path of the value (or of the map holding the key). */
  readonly path: string;
  readonly offset: number;
  /** Its source text. */
  readonly text: string;
  /** A `{{ … }}` template, else a key that is a map or list. */
  readonly template: boolean;
}

/** Unrendered `{{ … }}` templates read as flow maps, and other keys that are collections (at most 10). */
/**
 * The yaml package's `uniqueKeys` check in one pass: a key equal to an earlier key of its mapping
 * (the same node, or a scalar with the same value) is a DUPLICATE_KEY error at the later key, as
 * the package reports it. Iterative, so nesting costs no stack.
 */
function duplicateKeys(doc: Document.Parsed, lineOf: (offset: number | undefined) => number): void {
  // Each node with the field path it is at ('' at the top, undefined inside a key that is a collection).
  const stack: [unknown, string | undefined][] = [[doc.contents, '']];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (isMap(node)) {
      const seen = new Map<unknown, number | undefined>();
      for (const pair of node.items) {
        const key = pair.key as unknown;
        const id = isScalar(key) ? key.value : key;
        const name = isScalar(key) ? String(key.value) : undefined;
        const keyPath = path === undefined || name === undefined ? undefined : path ? `${path}.${name}` : name;
        if (seen.has(id)) {
          const at = (key as YamlNode | null)?.range?.[0] ?? node.range?.[0] ?? 0;
          const first = seen.get(id);
          const named = name === undefined ? '' : `: "${short(name)}" is defined twice${keyPath !== undefined && keyPath !== name ? ` (${keyPath})` : ''}${first !== undefined ? `, first at line ${lineOf(first)}` : ''}`;
          doc.errors.push(new DuplicateKeyError([at, at + 1], `Map keys must be unique${named}`, keyPath));
        } else seen.set(id, (key as YamlNode | null)?.range?.[0]);
        stack.push([key, undefined], [pair.value, keyPath]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push([item, path === undefined ? undefined : `${path}[${i}]`]));
    } else if (isPair(node)) {
      stack.push([node.key, undefined], [node.value, undefined]);
    }
  }
}

/** A duplicate key, with its field path when it has one. */
class DuplicateKeyError extends YAMLParseError {
  constructor(
    pos: [number, number],
    message: string,
    readonly path: string = '',
  ) {
    super(pos, 'DUPLICATE_KEY', message);
  }
}

/**
 * For an error about an unclosed flow sequence, flow map or quoted string (`message`): the
 * innermost one of the document starting at `docStart` that opens before `pos` and is never
 * closed, from the CST tokens read last.
 */
function unclosedBefore(tokens: readonly CST.Token[], docStart: number, pos: number, message: string): { offset: number; what: string } | undefined {
  const kind = /^Flow sequence/.test(message) ? '[' : /^Flow map/.test(message) ? '{' : /quote/i.test(message) ? 'quote' : undefined;
  if (kind === undefined) return undefined;
  let found: { offset: number; what: string } | undefined;
  const look = (t: CST.Token | undefined): void => {
    if (t === undefined || t.offset < docStart || t.offset > pos) return;
    if (t.type === 'flow-collection') {
      if (t.start.source !== kind) return;
      const closed = t.end.some((e) => e.type === (kind === '[' ? 'flow-seq-end' : 'flow-map-end'));
      if (!closed && (found === undefined || t.offset >= found.offset)) found = { offset: t.offset, what: `\`${t.start.source}\`` };
    } else if (kind === 'quote' && (t.type === 'double-quoted-scalar' || t.type === 'single-quoted-scalar')) {
      const q = t.type === 'double-quoted-scalar' ? '"' : "'";
      const unclosed = t.source.length < 2 || !t.source.endsWith(q) || (q === '"' && /(^|[^\\])(\\\\)*\\"$/.test(t.source));
      if (unclosed && (found === undefined || t.offset >= found.offset)) found = { offset: t.offset, what: `quote ${q}` };
    }
  };
  try {
    for (const token of tokens) {
      if (token.type !== 'document') continue;
      look(token.value);
      CST.visit(token, (item) => {
        look(item.key ?? undefined);
        look(item.value);
      });
    }
  } catch {
    return undefined; // nested too deeply to walk (the error says so already)
  }
  return found;
}

function templatesIn(node: unknown, path: string, text: string, out: TemplateFound[]): void {
  if (out.length >= 10 || node === null || typeof node !== 'object') return;
  if ((isMap(node) || isSeq(node)) && node.flow && node.range && text.startsWith('{{', node.range[0])) {
    out.push({ path, offset: node.range[0], text: text.slice(node.range[0], node.range[1]), template: true });
    return;
  }
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = pair.key as unknown;
      if (isScalar(key)) templatesIn(pair.value, path ? `${path}.${String(key.value)}` : String(key.value), text, out);
      else if ((isMap(key) || isSeq(key)) && key.range) {
        const t = text.startsWith('{{', key.range[0]);
        out.push({ path, offset: key.range[0], text: text.slice(key.range[0], key.range[1]), template: t });
      }
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => templatesIn(item, `${path}[${i}]`, text, out));
  }
}

const TEMPLATE = /\{\{.*?\}\}/;

/** The first `{{ … }}` on a line that is not a comment. */
function templateOutsideComments(docText: string): { text: string; index: number } | undefined {
  let at = 0;
  for (const line of docText.split('\n')) {
    if (!/^\s*#/.test(line)) {
      const m = TEMPLATE.exec(line);
      if (m) return { text: m[0], index: at + m.index };
    }
    at += line.length + 1;
  }
  return undefined;
}

function short(s: string): string {
  const one = s.replace(/\s+/g, ' ');
  return cutText(one, 80, 77);
}

function templateMessage(template: string): string {
  if (/^\{\{\s*[<%]/.test(template)) {
    return `unrendered template \`${short(template)}\` (a Hugo shortcode: the source of a docs page): copy the manifest from the rendered page, or write the value it stands for`;
  }
  return `unrendered template \`${short(template)}\`: render it first, e.g. \`helm template\`, and pass the output`;
}

/** Fields that name something (a resource, an issuer, a URL): a `{{ … }}` there names nothing that exists. */
const NAMING_KEYS = new Set(['name', 'namespace', 'issuer', 'url', 'host', 'hostname', 'hostnames', 'sectionName']);

/** Quoted `{{ … }}` strings in naming fields (a quoted template parses as a string: no YAML error). */
function quotedTemplates(v: unknown, path: string, out: { path: string; text: string }[], seen = new Set<object>()): void {
  if (out.length >= 10) return;
  // A list or map a YAML alias repeats is one object: looked at once (a 200 KB document of
  // aliases repeating a long list took seconds here, walked once per reference).
  if (typeof v === 'object' && v !== null) {
    if (seen.has(v)) return;
    seen.add(v);
  }
  if (Array.isArray(v)) v.forEach((x, i) => quotedTemplates(x, `${path}[${i}]`, out, seen));
  else if (isPlainObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      const p = path ? `${path}.${k}` : k;
      const values = NAMING_KEYS.has(k) ? (Array.isArray(x) ? x.map((y, i) => [y, `${p}[${i}]`] as const) : [[x, p] as const]) : [];
      let named = false;
      for (const [y, yp] of values) {
        const m = typeof y === 'string' ? TEMPLATE.exec(y) : null;
        if (m) {
          out.push({ path: yp, text: m[0] });
          named = true;
        }
      }
      if (!named) quotedTemplates(x, p, out, seen);
    }
  }
}

function collectLines(node: YamlNode, prefix: string, lines: Map<string, number>, lineOf: (o: number | undefined) => number): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (key === undefined) continue;
      const p = prefix ? `${prefix}.${key}` : key;
      const keyNode = pair.key as YamlNode;
      lines.set(p, lineOf(keyNode.range?.[0]));
      if (pair.value && typeof pair.value === 'object') collectLines(pair.value as YamlNode, p, lines, lineOf);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const p = `${prefix}[${i}]`;
      const n = item as YamlNode;
      if (n && typeof n === 'object' && 'range' in n) {
        lines.set(p, lineOf(n.range?.[0]));
        collectLines(n, p, lines, lineOf);
      }
    });
  }
}

function stringMap(v: unknown, p: string, id: string, at: (p: string) => string, problems: ConfigProblem[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === undefined || v === null) return out;
  if (!isPlainObject(v)) {
    problems.push({ resource: id, path: p, message: 'must be a map of strings', severity: 'error', source: at(p) });
    return out;
  }
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === 'string') out[k] = val;
    else {
      const hint = val === null || typeof val === 'object' ? '' : ` (quote it: "${String(val)}")`;
      problems.push({ resource: id, path: `${p}.${k}`, message: `must be a string${hint}`, severity: 'error', source: at(`${p}.${k}`) });
    }
  }
  return out;
}

function fileProblem(file: string, message: string, source?: string): ConfigProblem {
  return { resource: file, path: '', message, severity: 'error', source: source ?? file };
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

/** A YAML error for a message: nesting deep enough to exhaust the stack said as such. */
function yamlErrText(err: unknown): string {
  if (err instanceof RangeError && /call stack/.test(err.message)) return 'the document is nested too deeply to read';
  return errText(err);
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
