// What the endpoint checks before it stores anything. TEMPORARY structural checks until the xAPI and
// Caliper validators of src/sources/xapi and src/sources/caliper are wired in.
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

export function xapiStatementProblems(s: unknown): string[] {
  if (!isObj(s)) return ['a statement is a JSON object'];
  const p: string[] = [];
  if (s.id !== undefined && (typeof s.id !== 'string' || !UUID.test(s.id))) p.push('id is not a UUID');
  if (!isObj(s.actor)) p.push('actor is missing');
  if (!isObj(s.verb) || typeof s.verb.id !== 'string') p.push('verb.id is missing');
  if (!isObj(s.object)) p.push('object is missing');
  return p;
}

export function caliperEnvelopeProblems(e: unknown): string[] {
  if (!isObj(e)) return ['an envelope is a JSON object'];
  const p: string[] = [];
  for (const k of ['sensor', 'sendTime', 'dataVersion']) if (e[k] === undefined) p.push(`${k} is missing`);
  if (!Array.isArray(e.data) || !e.data.length) p.push('data is not a non-empty array');
  return p;
}
