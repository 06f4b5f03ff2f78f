// What the endpoint checks before it stores anything: the same rules file and LRS loads apply
// (src/sources/xapi/validate.ts, src/sources/caliper/flatten.ts), so a statement accepted over HTTP is
// not rejected later for being invalid.
import { validateStatement, type Problem } from '../xapi/validate.js';
import { validateCaliperEvent } from '../caliper/flatten.js';

const text = (ps: Problem[]) => ps.map((p) => `${p.path}: ${p.message}`);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function xapiStatementProblems(s: unknown): string[] {
  return text(validateStatement(s));
}

/** An envelope needs sensor, sendTime, dataVersion and a non-empty data array of valid events (entities may ride along). */
export function caliperEnvelopeProblems(e: unknown): string[] {
  if (!isObj(e)) return ['an envelope is a JSON object'];
  const p: string[] = [];
  for (const k of ['sensor', 'sendTime', 'dataVersion']) if (e[k] === undefined) p.push(`${k}: missing`);
  if (!Array.isArray(e.data) || !e.data.length) return [...p, 'data: expected a non-empty array of events'];
  e.data.forEach((d, i) => {
    // Entities describe people, courses and resources; only events are checked (and loaded).
    if (isObj(d) && typeof d.type === 'string' && !/Event$/.test(d.type) && !('action' in d)) return;
    for (const m of text(validateCaliperEvent(d))) p.push(`data[${i}].${m}`);
  });
  return p;
}
