// Convenience entry points: load manifests and compile them in one call (for `serve`, `check`
// and tests). Loader problems are carried into the snapshot's problems.

import type { Snapshot } from './snapshot.js';
import { compileSnapshot, type CompileOptions } from './compile.js';
import { loadManifests, loadManifestsFromText } from './load.js';

export type BuildOptions = Omit<CompileOptions, 'problems'>;

/** loadManifests + compileSnapshot. */
export async function compileFiles(paths: string[], opts: BuildOptions): Promise<Snapshot> {
  const { resources, problems } = await loadManifests(paths);
  return compileSnapshot(resources, { ...opts, problems }).snapshot;
}

/** loadManifestsFromText + compileSnapshot (tests, `check -` from stdin). */
export function compileText(text: string, opts: BuildOptions, sourceName = '<text>'): Snapshot {
  const { resources, problems } = loadManifestsFromText(text, sourceName);
  return compileSnapshot(resources, { ...opts, problems }).snapshot;
}
