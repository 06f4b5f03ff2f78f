// The spine (when predictions are made) and point-in-time features for every spine row.
//
// Point in time: cutoffs are UTC midnights, and a feature at cutoff t reads only day tiles of days
// before t's day, i.e. only events with timestamp_utc < t. Window features subtract two cumulative
// lookups (ASOF joins on the tiles), so no raw event is rescanned per cutoff.
import type { Engine } from '../engine/engine.js';
import type { SpineConfig } from '../config/modeling.js';
import { FeatureConfigError, tileEventTypes, type FeatureSpec } from './library.js';
import { countedTileTypes, step, withoutInsertionOrder } from './tiles.js';

export interface SpineSummary {
  rows: number;
  users: number;
  cutoffs: number;
  first_cutoff: string | null;
  last_cutoff: string | null;
}

/** Cutoff days from `from` to `to` (included when on the grid), every `days` days. */
function everyDays(from: string, to: string, days: number): string[] {
  const out: string[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= end; t += days * 86_400_000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

/** Rebuilds the spine table for this run. Cutoffs after --as-of are left out (nothing to predict from yet). */
export async function buildSpine(engine: Engine, spine: SpineConfig, asOf: string): Promise<SpineSummary> {
  const d = engine.dialect;
  const ts = d.sqlType('timestamp');
  await engine.run(d.deleteAll('spine'));
  const asOfTs = `CAST($1 AS ${ts})`;
  let select: string | null;
  const params: Array<string | number> = [asOf];
  if (spine.relative_to_enrollment) {
    const r = spine.relative_to_enrollment;
    const courseFilter = r.courses?.length ? `AND e.course_id IN (${r.courses.map((_, i) => `$${i + 2}`).join(', ')})` : '';
    if (r.courses) params.push(...r.courses);
    select = `SELECT DISTINCT e.user_id AS user_id, e.course_id AS course_id, CAST(date_trunc('day', e.enrolled_at) AS ${ts}) + INTERVAL (k) DAY AS cutoff
      FROM enrollments e${d.unnestJoin(`[${r.days.join(', ')}]`, 'k')} WHERE e.enrolled_at IS NOT NULL ${courseFilter}`;
  } else {
    // "every N days" is expanded here: the same literal list on every engine (no timestamp series needed).
    const dates = spine.dates ?? everyDays(spine.every!.from, spine.every!.to, spine.every!.days);
    const cutoffs = `SELECT CAST(d AS ${ts}) AS cutoff FROM (SELECT 1 AS one) o${d.unnestJoin(`[${d.stringList(dates)}]`, 'd')}`;
    const people =
      spine.population === 'all_users'
        ? `SELECT u.user_id AS user_id, c.cutoff AS cutoff FROM users u, (${cutoffs}) c`
        : `SELECT f.user_id AS user_id, c.cutoff AS cutoff FROM (SELECT k.user_id, min(t.day) AS first_day FROM user_day t JOIN learner_keys k ON k.uid = t.uid GROUP BY k.user_id) f, (${cutoffs}) c WHERE f.first_day < CAST(c.cutoff AS ${d.sqlType('date')})`;
    select = dates.length ? `SELECT user_id, ${d.typedNull('varchar')} AS course_id, cutoff FROM (${people}) p` : null;
  }
  if (select) await engine.run(`INSERT INTO spine SELECT * FROM (${select}) s WHERE cutoff <= ${asOfTs} ORDER BY user_id, course_id NULLS FIRST, cutoff`, params);
  const s = await engine.one<Record<string, unknown>>(`SELECT count(*) AS rows, count(DISTINCT user_id) AS users, count(DISTINCT cutoff) AS cutoffs, ${d.timestampText('min(cutoff)')} AS f, ${d.timestampText('max(cutoff)')} AS l FROM spine`);
  // (ClickHouse's min/max of no rows is the type's default, not NULL.)
  const rows = Number(s?.rows ?? 0);
  return { rows, users: Number(s?.users ?? 0), cutoffs: Number(s?.cutoffs ?? 0), first_cutoff: rows ? (s?.f as string) : null, last_cutoff: rows ? (s?.l as string) : null };
}

export interface FeatureUpdate {
  rows: number;
  mode: 'full' | 'incremental';
  /** Spine rows computed in this run. */
  computed: number;
}

/**
 * Computes every feature for every spine row into the table `features` (user_id, course_id, cutoff,
 * one column per feature). Incremental when the feature definitions are unchanged: only spine rows that
 * are new, or whose learner has events or assessments loaded since the last computation at or before
 * the cutoff's day, are recomputed (point in time: later rows cannot change earlier cutoffs). New HR
 * records (which also move teammates' team sizes) or a full tile rebuild recompute everything.
 */
export async function computeFeatures(engine: Engine, specs: FeatureSpec[], opts: { full?: boolean } = {}): Promise<FeatureUpdate> {
  const d = engine.dialect;
  const counted = await countedTileTypes(engine);
  const uncounted = tileEventTypes(specs).filter((t) => !counted.includes(t));
  if (uncounted.length) {
    throw new FeatureConfigError(`features: the tiles do not count events of type ${uncounted.join(', ')}; update them with those types first (updateTiles with eventTypes: tileEventTypes(specs), as learnpipe run does)`);
  }
  const settings = JSON.stringify({ version: 1, specs: specs.map((s) => [s.name, s.type, s.sql]) });
  const state = await engine.one<{ last_load_id: number; settings: string }>(`SELECT last_load_id, settings FROM tile_state WHERE tile = 'features'`);
  const maxLoad = Number((await engine.one<{ m: number }>(`SELECT coalesce(max(load_id), 0) AS m FROM loads`))?.m ?? 0);
  const exists = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'features' AND table_schema = ${d.currentSchema()}`))?.n) > 0;
  const needsHr = specs.some((s) => s.sql.includes('h.') || s.sql.includes('tm.'));
  const DATE = d.sqlType('date');
  let incremental = !opts.full && exists && !!state && state.settings === settings;
  const since = Number(state?.last_load_id ?? 0);
  if (incremental && needsHr && Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM hr_records WHERE load_id > ${since}`))?.n) > 0) incremental = false;
  await engine.run(`DROP TABLE IF EXISTS __todo`);
  if (incremental) {
    await engine.run(`CREATE TEMPORARY TABLE __todo AS
      WITH t0 AS (
        SELECT user_id, min(t) AS t0 FROM (
          SELECT user_id, timestamp_utc AS t FROM events WHERE load_id > ${since}
          UNION ALL SELECT user_id, submitted_at FROM assessments WHERE load_id > ${since}) GROUP BY 1)
      SELECT s.user_id, s.course_id, s.cutoff FROM spine s ${d.antiJoin()} features f ON f.user_id = s.user_id AND f.course_id IS NOT DISTINCT FROM s.course_id AND f.cutoff = s.cutoff
      UNION
      SELECT s.user_id, s.course_id, s.cutoff FROM spine s JOIN t0 ON t0.user_id = s.user_id AND CAST(t0.t0 AS ${DATE}) < CAST(s.cutoff AS ${DATE})`);
    const key = ['user_id', 'course_id', 'cutoff'];
    const where = `NOT ${d.hasMatch('f', 'spine', 's', key, ['course_id'])}\n      OR ${d.hasMatch('f', '__todo', 't', key, ['course_id'])}`;
    await step(engine, 'features: delete stale', d.deleteWhere('features', 'f', where, key));
  }
  const r = await assemble(engine, specs, incremental ? '__todo' : 'spine', incremental ? 'insert' : 'replace');
  await engine.run(`DROP TABLE IF EXISTS __todo`);
  await engine.run(`DELETE FROM tile_state WHERE tile = 'features'`);
  await engine.run(`INSERT INTO tile_state VALUES ('features', $1, $2)`, [maxLoad, settings]);
  const n = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM features`);
  return { rows: Number(n?.n ?? 0), mode: incremental ? 'incremental' : 'full', computed: r };
}

/** Features for the spine rows in `spineTable`, written to `features` (replacing it, or appended). */
async function assemble(engine: Engine, specs: FeatureSpec[], spineTable: string, write: 'replace' | 'insert'): Promise<number> {
  const table = 'features';
  const d = engine.dialect;
  const DATE = d.sqlType('date');
  const offsets = [...new Set([0, ...specs.flatMap((s) => s.offsets)])].sort((a, b) => a - b);
  const types = tileEventTypes(specs);
  const needsAssess = specs.some((s) => s.sql.includes('pa.'));
  const needsHr = specs.some((s) => s.sql.includes('h.'));
  const needsTeam = specs.some((s) => s.sql.includes('tm.'));
  const temps = ['__su', '__spine', '__look', '__lday', '__bucket', '__bsum', '__cum', '__cuma', '__hr', '__team', '__pall', ...offsets.map((o) => `__p${o}`), '__pa'];
  for (const t of temps) await engine.run(`DROP TABLE IF EXISTS ${t}`);

  // The window and ASOF passes match learners by their integer tile key (learner_keys.uid): sorting and
  // matching 32-character pseudonyms costs far more than integers. A spine learner with no tiles (no
  // events) has none (NULL): nothing matches, as no tile would.
  await step(engine, 'features: spine keys', `CREATE TEMPORARY TABLE __su AS
    SELECT s.user_id, k.uid FROM (SELECT DISTINCT user_id FROM ${spineTable}) s LEFT JOIN learner_keys k ON k.user_id = s.user_id`);
  await step(engine, 'features: spine', `CREATE TEMPORARY TABLE __spine AS SELECT row_number() OVER (ORDER BY t.user_id, t.course_id NULLS FIRST, t.cutoff) AS sid, u.uid, t.user_id, t.course_id, t.cutoff, CAST(t.cutoff AS ${DATE}) AS cutoff_day FROM ${spineTable} t JOIN __su u USING (user_id)`);
  // Seconds are summed as decimals: exact, so the result does not depend on the order in which the
  // parallel aggregation adds them up (with doubles it could differ in the last bit from run to run).
  // Cumulative activity at every lookup point (a cutoff minus each offset: the sums over tile days before
  // it). Rather than a running sum over every tile day, tile days are first summed per learner between
  // consecutive lookup days (bucket k holds the days before the k-th lookup day and on or after the one
  // before), then accumulated over those few buckets; days from the last lookup day on are never read.
  const bucketCols: Array<[string, string, string]> = [
    ['c_events', 'sum(events)', 'sum(c_events) OVER w'],
    ['c_time', `sum(${d.exactDecimal('duration_seconds')})`, 'CAST(sum(c_time) OVER w AS DOUBLE)'],
    ['c_days', 'count(*)', 'sum(c_days) OVER w'],
    ['c_sessions', 'sum(sessions_started)', 'sum(c_sessions) OVER w'],
    ['c_session_seconds', `sum(${d.exactDecimal('session_seconds')})`, 'CAST(sum(c_session_seconds) OVER w AS DOUBLE)'],
    ['c_quiz_objects', 'sum(new_quiz_objects)', 'sum(c_quiz_objects) OVER w'],
    ...types.map((t): [string, string, string] => [`c_n_${t}`, `sum(n_${t})`, `sum(c_n_${t}) OVER w`]),
    ['first_ts', 'min(first_ts)', 'min(first_ts) OVER w'],
    ['last_ts', 'max(last_ts)', 'max(last_ts) OVER w'],
    ['last_login_day', 'max(CASE WHEN n_login > 0 THEN day END)', 'max(last_login_day) OVER w'],
  ];
  const read = new Set(specs.flatMap((f) => [...f.sql.matchAll(/\bp\d+\.(\w+)/g)].map((m) => m[1])));
  const cum = bucketCols.filter(([name]) => read.has(name));
  if (!cum.length) cum.push(bucketCols[0]);
  // (The intermediate tables are read only through joins: no insertion order to keep.)
  await withoutInsertionOrder(engine, async () => {
    await step(engine, 'features: lookup points', `CREATE TEMPORARY TABLE __look AS SELECT s.sid, s.uid, o, s.cutoff_day - o AS pd FROM __spine s${d.unnestJoin(`[${offsets.join(', ')}]`, 'o')}`);
    await engine.run(`CREATE TEMPORARY TABLE __lday AS SELECT pd, CAST(row_number() OVER (ORDER BY pd) AS INTEGER) AS k FROM (SELECT DISTINCT pd FROM __look)`);
    const range = await engine.one<{ lo: string | null; hi: string | null }>(`SELECT ${d.toText('(SELECT min(day) FROM user_day)')} AS lo, ${d.toText('max(pd)')} AS hi FROM __lday`);
    await engine.run(`CREATE TEMPORARY TABLE __bucket AS
      ${d.daysBeforeLookups('$1', '$2', '__lday')}`, range?.hi ? [range.lo ?? range.hi, range.hi] : ['2000-01-01', '2000-01-01']);
    await step(engine, 'features: bucket sums', `CREATE TEMPORARY TABLE __bsum AS
      SELECT d.uid AS uid, b.k, ${cum.map(([name, agg]) => `${agg} AS ${name}`).join(', ')}
      FROM user_day d JOIN __su u ON u.uid = d.uid JOIN __bucket b USING (day)
      GROUP BY d.uid, b.k`);
    await step(engine, 'features: cumulative sums', `CREATE TEMPORARY TABLE __cum AS
      SELECT uid, k, ${cum.map(([name, , acc]) => `${acc} AS ${name}`).join(', ')}
      FROM __bsum WINDOW w AS (PARTITION BY uid ORDER BY k ROWS UNBOUNDED PRECEDING)`);
    // One ASOF join for every lookup point, then one narrow table per offset.
    await step(engine, 'features: lookups', `CREATE TEMPORARY TABLE __pall AS
      SELECT p.sid, p.o, ${d.allExcept('c.', ['uid', 'k'])}
      FROM (SELECT x.sid, x.uid, x.o, l.k FROM __look x JOIN __lday l USING (pd)) p
      ASOF LEFT JOIN __cum c ON p.uid = c.uid AND p.k >= c.k`);
  });
  for (const o of offsets) await engine.run(`CREATE TEMPORARY TABLE __p${o} AS SELECT ${d.allExcept('', ['o'])} FROM __pall WHERE o = ${o}`);
  await engine.run(`DROP TABLE __pall`);
  if (needsAssess) {
    await engine.run(`CREATE TEMPORARY TABLE __cuma AS SELECT user_id, day,
        sum(attempts) OVER w AS c_attempts, sum(passed) OVER w AS c_passed, sum(graded) OVER w AS c_graded,
        sum(score_ratio_sum) OVER w AS c_score_sum, sum(scored) OVER w AS c_scored
      FROM user_day_assessments ${d.semiJoin()} (SELECT DISTINCT user_id FROM __spine) sp USING (user_id)
      WINDOW w AS (PARTITION BY user_id ORDER BY day ROWS UNBOUNDED PRECEDING)`);
    await engine.run(`CREATE TEMPORARY TABLE __pa AS SELECT s.sid, ${d.allExcept('c.', ['user_id', 'day'])} FROM __spine s ASOF LEFT JOIN __cuma c ON s.user_id = c.user_id AND s.cutoff_day > c.day`);
  }
  if (needsHr || needsTeam) {
    // The HR record in force at the cutoff: the latest that took effect before it, unless it has ended.
    await engine.run(`CREATE TEMPORARY TABLE __hr AS
      SELECT s.sid, s.cutoff_day, CASE WHEN h.effective_to IS NULL OR h.effective_to > s.cutoff_day THEN h.user_id END AS hr_user,
        h.role_level, h.employment_status, h.hire_date, h.manager_id, h.performance_rating, h.salary_band, h.effective_to
      FROM __spine s ASOF LEFT JOIN hr_records h ON s.user_id = h.user_id AND s.cutoff_day > h.effective_from`);
    await engine.run(d.update('__hr', 'role_level = NULL, employment_status = NULL, hire_date = NULL, manager_id = NULL, performance_rating = NULL, salary_band = NULL', 'hr_user IS NULL'));
  }
  if (needsTeam) {
    await engine.run(`CREATE TEMPORARY TABLE __team AS
      SELECT c.cutoff_day, h.manager_id, count(DISTINCT h.user_id) AS team_size
      FROM (SELECT DISTINCT cutoff_day FROM __spine) c JOIN hr_records h
        ON h.effective_from < c.cutoff_day AND (h.effective_to IS NULL OR h.effective_to > c.cutoff_day)
      WHERE h.manager_id IS NOT NULL AND lower(h.employment_status) NOT IN ('terminated', 'resigned', 'left')
      GROUP BY 1, 2`);
  }
  const joins = [
    ...offsets.map((o) => `LEFT JOIN __p${o} p${o} ON p${o}.sid = s.sid`),
    ...(needsAssess ? ['LEFT JOIN __pa pa ON pa.sid = s.sid'] : []),
    ...(needsHr || needsTeam ? ['LEFT JOIN __hr h ON h.sid = s.sid'] : []),
    ...(needsTeam ? ['LEFT JOIN __team tm ON tm.cutoff_day = s.cutoff_day AND tm.manager_id = h.manager_id'] : []),
  ];
  const cast = (f: FeatureSpec) => `CAST(${f.sql} AS ${d.sqlType(f.type)}) AS ${d.quoteIdent(f.name)}`;
  const select = `SELECT s.user_id, s.course_id, s.cutoff, ${specs.map(cast).join(', ')} FROM __spine s ${joins.join(' ')}`;
  if (write === 'replace') await step(engine, 'features: write', `CREATE OR REPLACE TABLE ${engine.dialect.quoteIdent(table)} AS ${select}`);
  else await engine.run(`INSERT INTO ${engine.dialect.quoteIdent(table)} ${select}`);
  const n = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM __spine`);
  for (const t of temps) await engine.run(`DROP TABLE IF EXISTS ${t}`);
  return Number(n?.n ?? 0);
}
