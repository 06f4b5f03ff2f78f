// One xAPI document → what is loaded of it: a flattened row, a voiding instruction or a reject. Pure and
// light (no engine), so the in-thread reader and the parse workers (parallel.ts) decide alike.
import type { Problem } from './validate.js';
import { validateStatement } from './validate.js';
import { flattenStatement, type Flattened, type XapiFlattenOptions } from './flatten.js';

/** Rejects keep at most this much of a statement's text. */
export const RAW_LIMIT = 20000;

export const rejectOf = (problems: Problem[], invalid: string): Flattened => {
  const first = problems[0];
  const missing = /^missing (\w+)$/.exec(first.message);
  return {
    kind: 'reject',
    reason: missing && !first.path.includes('.') ? `missing_${missing[1]}` : invalid,
    field: first.path,
    detail: problems.slice(0, 5).map((p) => `${p.path}: ${p.message}`).join('; ') + (problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''),
  };
};

/** A parsed document (or the error of a malformed one) → its outcome and its text for rejects. */
export function xapiOut(d: { value: unknown } | { error: string; raw: string }, o: XapiFlattenOptions): { out: Flattened; raw: () => string } {
  return { out: xapiOutcome(d, o), raw: () => rawText(d) };
}

/** The outcome alone (the parse workers: no closure per statement for the rare reject's text). */
export function xapiOutcome(d: { value: unknown } | { error: string; raw: string }, o: XapiFlattenOptions): Flattened {
  if ('error' in d) return { kind: 'reject', reason: 'malformed_json', field: null, detail: d.error };
  const problems = validateStatement(d.value);
  return problems.length ? rejectOf(problems, 'invalid_statement') : flattenStatement(d.value as Record<string, any>, o);
}

/** A document's text for rejects: the line when malformed, else the statement as parsed. */
export function rawText(d: { value: unknown } | { error: string; raw: string }): string {
  return 'error' in d ? d.raw : JSON.stringify(d.value);
}
