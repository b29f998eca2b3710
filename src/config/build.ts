// Convenience entry points: load manifests and compile them in one call (`serve`, `check` and
// tests). Loader problems are carried into the snapshot's problems, or with `loadErrorsFatal`
// (serve) thrown as a ConfigError before anything is compiled.

import { ConfigError, type ConfigProblem } from '../errors.js';
import type { Snapshot } from './snapshot.js';
import { compileSnapshot, type CompileOptions } from './compile.js';
import { loadManifests, loadManifestsFromText } from './load.js';
import { loadManifestsOffThread, type OffThreadOptions } from './load-off-thread.js';
import { printable } from './report.js';

export type BuildOptions = Omit<CompileOptions, 'problems'>;

/**
 * loadManifests + compileSnapshot; `loadErrorsFatal` (serve): unreadable files, YAML syntax errors
 * and `fatal` problems throw. `offThread` (reloads): the files are read and parsed on a thread of
 * their own (loadManifestsOffThread), so requests go on meanwhile.
 */
export async function compileFiles(paths: readonly string[], opts: BuildOptions, { loadErrorsFatal = false, offThread }: { loadErrorsFatal?: boolean; offThread?: OffThreadOptions } = {}): Promise<Snapshot> {
  const { resources, problems } = offThread ? await loadManifestsOffThread(paths, offThread) : await loadManifests(paths);
  if (loadErrorsFatal) refuse(problems.filter((p) => p.severity === 'error'));
  const snapshot = compileSnapshot(resources, { ...opts, problems }).snapshot;
  if (loadErrorsFatal) refuse(snapshot.problems.filter((p) => p.fatal));
  return snapshot;
}

function refuse(fatal: readonly ConfigProblem[]): void {
  if (fatal.length) throw new ConfigError([...fatal], 'cannot load configuration:\n' + fatal.map((p) => printable(p.path ? `  ${p.resource} ${p.path} (${p.source}): ${p.message}` : `  ${p.source ?? p.resource}: ${p.message}`)).join('\n'));
}

/** loadManifestsFromText + compileSnapshot (tests, `check -` from stdin). */
export function compileText(text: string, opts: BuildOptions, sourceName = '<text>'): Snapshot {
  const { resources, problems } = loadManifestsFromText(text, sourceName);
  return compileSnapshot(resources, { ...opts, problems }).snapshot;
}
