// Labels: their own idempotent pipeline over the spine. A label at cutoff t reads only (t, t + window];
// a window that ends after --as-of is not fully observed, so it is recorded as censored with no value.
//
// Rows are identified by label_id = hash(definition hash, user, course, window) and stored per
// computation date (the run's --as-of): re-running the same as-of rewrites the same rows; a changed
// definition gets a new hash and new rows, and older rows stay for audit.
import { createHash } from 'node:crypto';
import type { Engine } from '../engine/engine.js';
import type { LabelDef } from '../config/modeling.js';
import type { Dialect } from '../engine/dialects/dialect.js';

export interface LabelSummary {
  name: string;
  definition_hash: string;
  rows: number;
  positives: number;
  negatives: number;
  censored: number;
  /** Spine rows not at risk (already resolved before the cutoff, e.g. already left or completed). */
  not_at_risk: number;
}

/** Canonical JSON (sorted keys) of the definition, without its description. */
export function definitionHash(def: LabelDef): string {
  const { description: _d, ...rest } = def as LabelDef & { description?: string };
  const canon = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, canon(x)])) : v;
  return createHash('sha256').update(JSON.stringify(canon({ version: 1, ...rest }))).digest('hex').slice(0, 16);
}

function inList(col: string, values: string[] | undefined, params: unknown[]): string {
  if (!values?.length) return 'true';
  const start = params.length;
  params.push(...values);
  return `${col} IN (${values.map((_, i) => `$${start + i + 1}`).join(', ')})`;
}

/**
 * The SELECT giving, per spine row (alias s: user_id, course_id, cutoff, wend), `value` (0/1) and
 * `at_risk` (false when the outcome was already settled before the cutoff).
 */
function labelSql(def: LabelDef, params: unknown[], d: Dialect): string {
  const day = (e: string) => `CAST(${e} AS ${d.sqlType('date')})`;
  const win = `e.timestamp_utc > s.cutoff AND e.timestamp_utc <= s.wend`;
  switch (def.kind) {
    case 'event_within': {
      const filter = `e.event_type = ${bind(params, def.event_type)} AND ${inList('e.object_id', def.object_ids, params)} AND ${inList('e.course_id', def.course_ids, params)}`;
      return `SELECT s.*, CASE WHEN EXISTS (SELECT 1 FROM events e WHERE e.user_id = s.user_id AND ${filter} AND ${win}) THEN 1 ELSE 0 END AS value, true AS at_risk FROM __ls s`;
    }
    case 'inactivity':
      return `SELECT s.*, CASE WHEN EXISTS (SELECT 1 FROM events e WHERE e.user_id = s.user_id AND ${win}) THEN 0 ELSE 1 END AS value, true AS at_risk FROM __ls s`;
    case 'attrition': {
      const statuses = def.statuses.map((x) => x.toLowerCase());
      const st = inList('lower(h.employment_status)', statuses, params);
      return `SELECT s.*,
          CASE WHEN EXISTS (SELECT 1 FROM hr_records h WHERE h.user_id = s.user_id AND ${st} AND h.effective_from > ${day('s.cutoff')} AND h.effective_from <= ${day('s.wend')}) THEN 1 ELSE 0 END AS value,
          NOT EXISTS (SELECT 1 FROM hr_records h WHERE h.user_id = s.user_id AND ${st} AND h.effective_from <= ${day('s.cutoff')})
            AND EXISTS (SELECT 1 FROM hr_records h WHERE h.user_id = s.user_id AND h.effective_from <= ${day('s.cutoff')}) AS at_risk
        FROM __ls s`;
    }
    case 'completion_by_due':
      return `SELECT s.user_id, s.course_id, s.cutoff, en.due_at AS wend,
          CASE WHEN en.completed_at IS NOT NULL AND en.completed_at <= en.due_at THEN 1 ELSE 0 END AS value,
          en.due_at IS NOT NULL AND en.due_at > s.cutoff AND (en.completed_at IS NULL OR en.completed_at > s.cutoff) AS at_risk
        FROM __ls s JOIN enrollments en ON en.user_id = s.user_id AND en.course_id = s.course_id`;
    case 'source_outcome': {
      const values = def.positive_values.map((x) => x.toLowerCase());
      const t = `en.${def.time_column}`;
      return `SELECT s.*,
          CASE WHEN ${inList('lower(en.status)', values, params)} AND ${t} > s.cutoff AND ${t} <= s.wend THEN 1 ELSE 0 END AS value,
          NOT (${inList('lower(en.status)', values, params)} AND ${t} <= s.cutoff) AS at_risk
        FROM __ls s JOIN enrollments en ON en.user_id = s.user_id AND en.course_id = s.course_id`;
    }
  }
}

function bind(params: unknown[], v: unknown): string {
  params.push(v);
  return `$${params.length}`;
}

/** Computes one label definition over the current spine and stores it for computation date asOf. */
export async function computeLabel(engine: Engine, def: LabelDef, asOf: string): Promise<LabelSummary> {
  const hash = definitionHash(def);
  const d = engine.dialect;
  const ts = d.sqlType('timestamp');
  const windowDays = 'window_days' in def ? def.window_days : null;
  await engine.run(`DROP TABLE IF EXISTS __ls`);
  await engine.run(`CREATE TEMPORARY TABLE __ls AS SELECT user_id, course_id, cutoff, ${windowDays ? `cutoff + INTERVAL ${windowDays} DAY` : d.typedNull('timestamp')} AS wend FROM spine`);
  const params: unknown[] = [];
  const sql = labelSql(def, params, d);
  await engine.run(`DROP TABLE IF EXISTS __lv`);
  await engine.run(`CREATE TEMPORARY TABLE __lv AS SELECT * FROM (${sql}) v WHERE wend IS NOT NULL`, params as never);
  const fixed = [def.name, hash, asOf];
  const p = (i: number) => `$${i}`;
  await engine.transaction(async () => {
    await engine.run(`DELETE FROM labels WHERE label_name = $1 AND definition_hash = $2 AND computation_date = $3`, fixed);
    await engine.run(
      `INSERT INTO labels (label_id, label_name, definition_hash, user_id, course_id, label_value, censored, label_window_start, label_window_end, computation_date)
       SELECT left(${d.sha256Hex(`${p(2)} || '|' || user_id || '|' || coalesce(course_id, '') || '|' || ${d.timestampText('cutoff')} || '|' || ${d.timestampText('wend')}`)}, 32),
         ${p(1)}, ${p(2)}, user_id, course_id, CASE WHEN wend <= CAST(${p(3)} AS ${ts}) THEN value END, wend > CAST(${p(3)} AS ${ts}), cutoff, wend, ${p(3)}
       FROM __lv WHERE at_risk ORDER BY user_id, course_id NULLS FIRST, cutoff`,
      fixed,
    );
  });
  const s = await engine.one<Record<string, unknown>>(
    `SELECT count(*) AS rows, count(*) FILTER (WHERE label_value = 1) AS pos, count(*) FILTER (WHERE label_value = 0) AS neg, count(*) FILTER (WHERE censored) AS cens
     FROM labels WHERE label_name = $1 AND definition_hash = $2 AND computation_date = $3`,
    fixed,
  );
  const risk = await engine.one<{ n: number }>(`SELECT count(*) FILTER (WHERE NOT at_risk) AS n FROM __lv`);
  for (const t of ['__ls', '__lv']) await engine.run(`DROP TABLE IF EXISTS ${t}`);
  return { name: def.name, definition_hash: hash, rows: Number(s?.rows), positives: Number(s?.pos), negatives: Number(s?.neg), censored: Number(s?.cens), not_at_risk: Number(risk?.n ?? 0) };
}

export async function computeLabels(engine: Engine, defs: LabelDef[], asOf: string): Promise<LabelSummary[]> {
  const out: LabelSummary[] = [];
  for (const d of defs) out.push(await computeLabel(engine, d, asOf));
  return out;
}
