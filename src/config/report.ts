// Human output of `jwtgate check`: every resource with its conditions in the shape kgateway
// writes under `status`, then every problem (severity, resource, field path, file:line,
// message), then one summary line. Pure formatting: no decisions are made here.

import type { ConfigProblem } from '../errors.js';
import type { ResourceStatus } from './snapshot.js';

export interface CheckInput {
  readonly statuses: readonly ResourceStatus[];
  readonly problems: readonly ConfigProblem[];
}

export function countProblems(problems: readonly ConfigProblem[]): { errors: number; warnings: number } {
  let errors = 0;
  let warnings = 0;
  for (const p of problems) {
    if (p.severity === 'error') errors++;
    else warnings++;
  }
  return { errors, warnings };
}

/** True when any problem is an error (`jwtgate check` exits non-zero). */
export function hasErrors(input: CheckInput | readonly ConfigProblem[]): boolean {
  const problems = Array.isArray(input) ? (input as readonly ConfigProblem[]) : (input as CheckInput).problems;
  return problems.some((p) => p.severity === 'error');
}

function yamlString(s: string): string {
  if (s === '') return '""';
  if (/^[\w./@#:-][\w ./@#:,()'-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|\d+)$/i.test(s) && !s.includes(': ') && !s.endsWith(':')) return s;
  return JSON.stringify(s);
}

const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f]/g;

/**
 * `s` with control characters (C0, DEL, C1) written as `\u001b`: names, paths and messages come
 * from manifests, and a terminal would act on an escape sequence or start a line at a newline
 * (a hostile manifest could clear the screen or forge a "0 errors" line).
 */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** kgateway's controller name in policy ancestor statuses. */
export const CONTROLLER_NAME = 'kgateway.dev/kgateway';

function pushConditions(out: string[], st: ResourceStatus, indent: string): void {
  for (const c of st.conditions) {
    out.push(`${indent}- type: ${c.type}`);
    out.push(`${indent}  status: "${c.status}"`);
    out.push(`${indent}  reason: ${c.reason}`);
    out.push(`${indent}  message: ${printable(yamlString(c.message))}`);
  }
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export function formatCheckReport(input: CheckInput): string {
  const out: string[] = [];
  for (const st of input.statuses) {
    out.push(printable(`${st.resource}${st.source ? `  (${st.source})` : ''}`));
    out.push('  status:');
    if (st.ancestors === undefined) {
      out.push('    conditions:');
      pushConditions(out, st, '    ');
    } else {
      // A policy's status, per Gateway it reaches, as kgateway writes it (gwv1.PolicyStatus).
      out.push('    ancestors:');
      for (const a of st.ancestors) {
        out.push('    - ancestorRef:');
        out.push(`        group: ${a.group}`);
        out.push(`        kind: ${a.kind}`);
        out.push(printable(`        name: ${yamlString(a.name)}`));
        out.push(printable(`        namespace: ${yamlString(a.namespace)}`));
        out.push(`      controllerName: ${CONTROLLER_NAME}`);
        out.push('      conditions:');
        pushConditions(out, st, '      ');
      }
    }
  }
  const { errors, warnings } = countProblems(input.problems);
  if (input.problems.length > 0) {
    if (out.length > 0) out.push('');
    out.push('Problems:');
    const sorted = [...input.problems].sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
    for (const p of sorted) {
      const where = [p.resource, p.path].filter(Boolean).join(' ');
      out.push(`  ${p.severity === 'error' ? 'error  ' : 'warning'} ${printable(`${where}${p.source ? `  (${p.source})` : ''}`)}`);
      out.push(`          ${printable(p.message)}`);
    }
  }
  if (out.length > 0) out.push('');
  out.push(`${plural(input.statuses.length, 'resource')}, ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`);
  return `${out.join('\n')}\n`;
}
