// Feature tiles: per learner and UTC day aggregates (user_day, user_day_assessments), the sessions
// table and each learner's first start of each quiz. Window features are assembled from these tiles
// (see compute.ts) instead of rescanning raw events for every cutoff.
//
// Incremental rule. Tiles remember the last load folded in. For each learner with new (or late) rows,
// with t0 their earliest new event: the sessions that end within the inactivity gap of t0 may change
// (a late event can join or split them), so recomputation starts at
//     start_u = least(t0, the start of the earliest such session)
// which is a session boundary: every session starting earlier ended more than a gap before t0. Day tiles
// are recomputed from the UTC day of start_u; an event's session attributes depend only on the event
// just before it, so the learner's last event before that day (if within a gap of it) is read as context.
import type { Engine, SqlParams } from '../engine/engine.js';
import { EVENT_TYPES } from '../schema/canonical.js';

export interface TileOptions {
  sessionGapMinutes: number;
  /** Rebuild everything, ignoring the tile state. */
  full?: boolean;
}

export interface TileUpdate {
  mode: 'full' | 'incremental' | 'unchanged';
  /** Learners whose tiles were recomputed (all, in a full build). */
  users: number;
  /** Events read to recompute (a measure of the work done). */
  events_read: number;
  last_load_id: number;
}

const TILE = 'activity';
const SESSION_KEY = ['user_id', 'session_start'];

function settingsOf(o: TileOptions): string {
  return JSON.stringify({ version: 1, session_gap_minutes: o.sessionGapMinutes });
}

export async function updateTiles(engine: Engine, o: TileOptions): Promise<TileUpdate> {
  const settings = settingsOf(o);
  const state = await engine.one<{ last_load_id: number; settings: string }>(`SELECT last_load_id, settings FROM tile_state WHERE tile = $1`, [TILE]);
  const maxLoad = Number((await engine.one<{ m: number }>(`SELECT coalesce(max(load_id), 0) AS m FROM loads`))?.m ?? 0);
  const full = o.full || !state || state.settings !== settings;
  if (!full && Number(state!.last_load_id) >= maxLoad) return { mode: 'unchanged', users: 0, events_read: 0, last_load_id: maxLoad };

  return engine.transaction(async () => {
    // (Identity resolution that re-keys older rows clears tile_state, which forces a full rebuild.)
    const result = await withoutInsertionOrder(engine, () => rebuild(engine, o, full ? null : Number(state!.last_load_id), maxLoad));
    await engine.run(`DELETE FROM tile_state WHERE tile = $1`, [TILE]);
    await engine.run(`INSERT INTO tile_state VALUES ($1, $2, $3)`, [TILE, maxLoad, settings]);
    return result;
  });
}

/**
 * LEARNPIPE_PROFILE=1 prints each tile and feature step with its duration (for profiling);
 * LEARNPIPE_EXPLAIN=<part of a step label> runs the matching steps under EXPLAIN ANALYZE (which executes
 * them too) and prints their plans with per-operator times.
 */
const PROFILE = Boolean(process.env.LEARNPIPE_PROFILE);
const EXPLAIN = process.env.LEARNPIPE_EXPLAIN;

/** Runs one named step of SQL (a statement, or several in order); with LEARNPIPE_PROFILE=1 its duration goes to stderr. */
export async function step(engine: Engine, label: string, sql: string | string[], params?: SqlParams): Promise<void> {
  const t0 = PROFILE ? performance.now() : 0;
  const cpu0 = PROFILE ? process.cpuUsage() : undefined;
  for (const s of typeof sql === 'string' ? [sql] : sql) {
    if (EXPLAIN && label.includes(EXPLAIN)) {
      const rows = await engine.all(`EXPLAIN ANALYZE ${s}`, params);
      for (const r of rows) process.stderr.write(String(Object.values(r).pop()) + '\n');
    } else await engine.run(s, params);
  }
  if (PROFILE) {
    const cpu = process.cpuUsage(cpu0);
    process.stderr.write(`profile ${label.padEnd(28)} ${((performance.now() - t0) / 1000).toFixed(2)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s cpu\n`);
  }
}

/**
 * Runs fn with DuckDB's preserve_insertion_order off: the intermediate tables built here are read only
 * through joins and GROUP BYs, and without the ordering constraint DuckDB inserts in parallel with less memory.
 * (An engine without such a setting runs fn as is.)
 */
export async function withoutInsertionOrder<T>(engine: Engine, fn: () => Promise<T>): Promise<T> {
  const setting = engine.dialect.insertionOrderSetting();
  if (!setting) return fn();
  const before = await engine.one<{ v: string }>(`SELECT CAST(current_setting('${setting}') AS VARCHAR) AS v`);
  await engine.run(`SET ${setting} = false`);
  try {
    return await fn();
  } finally {
    await engine.run(`SET ${setting} = ${before?.v === 'false' ? 'false' : 'true'}`);
  }
}

/** Recomputes tiles for every learner (sinceLoad null) or for those with rows loaded after sinceLoad. */
async function rebuild(engine: Engine, o: TileOptions, sinceLoad: number | null, maxLoad: number): Promise<TileUpdate> {
  const d = engine.dialect;
  const [TS, DATE] = [d.sqlType('timestamp'), d.sqlType('date')];
  const gap = `INTERVAL ${Math.round(o.sessionGapMinutes * 60)} SECOND`;
  const full = sinceLoad === null;
  const temps = ['__recent', '__aff', '__uid', '__inc_ev', '__ev', '__quiz_new', '__quiz_day', '__aff_a'];
  // Incremental runs: the earliest from_day, and that minus the gap (see below).
  let fromDay: string | null = null;
  let readFrom: string | null = null;
  for (const t of temps) await engine.run(`DROP TABLE IF EXISTS ${t}`);

  // __uid: the learners to recompute, each with an integer surrogate key (uid) used instead of the
  // 32-character pseudonym while sorting and grouping (far less memory and comparison work), and where
  // their recomputation starts (start_u: a session boundary; from_day: its UTC day).
  if (full) {
    for (const t of ['user_day', 'user_day_assessments', 'sessions', 'quiz_first_starts']) await engine.run(d.deleteAll(t));
    await step(engine, 'tiles: learner keys', `CREATE TEMPORARY TABLE __uid AS
      SELECT user_id, CAST(row_number() OVER () AS INTEGER) AS uid, CAST(NULL AS ${TS}) AS start_u, CAST(NULL AS ${TS}) AS from_day
      FROM (SELECT DISTINCT user_id FROM events)`);
  } else {
    // Learners with new events, and where their recomputation starts (see the header). Each join against
    // a tile or the event log is first narrowed by a constant bound (the earliest new event, the earliest
    // from_day), a cheap timestamp filter that spares hashing pseudonyms of rows that cannot match.
    const t0min = (await engine.one<{ t: string | null }>(`SELECT ${d.toText('min(timestamp_utc)')} AS t FROM events WHERE load_id > ${sinceLoad}`))?.t ?? null;
    // Every session a late or new event can change ends within a gap before the earliest new event;
    // they are read once (with their row ids, for the delete below).
    await step(engine, 'tiles: recent sessions', `CREATE TEMPORARY TABLE __recent AS
      SELECT ${d.rowIdentity(SESSION_KEY)} AS rid, user_id, session_start, session_end FROM sessions WHERE session_end >= CAST($1 AS ${TS}) - ${gap}`, [t0min]);
    await step(engine, 'tiles: affected learners', `CREATE TEMPORARY TABLE __aff AS
      WITH t0 AS (SELECT user_id, min(timestamp_utc) AS t0 FROM events WHERE load_id > ${sinceLoad} GROUP BY 1)
      SELECT t0.user_id, least(t0.t0, min(s.session_start)) AS start_u, CAST(date_trunc('day', least(t0.t0, min(s.session_start))) AS ${TS}) AS from_day
      FROM t0 LEFT JOIN __recent s ON s.user_id = t0.user_id AND s.session_end >= t0.t0 - ${gap}
      GROUP BY t0.user_id, t0.t0`);
    await step(engine, 'tiles: learner keys', `CREATE TEMPORARY TABLE __uid AS SELECT user_id, CAST(row_number() OVER () AS INTEGER) AS uid, start_u, from_day FROM __aff`);
    const b = await engine.one<{ f: string | null; c: string | null }>(`SELECT ${d.toText('min(from_day)')} AS f, ${d.toText(`min(from_day) - ${gap}`)} AS c FROM __aff`);
    [fromDay, readFrom] = [b?.f ?? null, b?.c ?? null];
    await step(engine, 'tiles: delete user_day', d.deleteWhere('user_day', 'd', `d.day >= CAST(CAST($1 AS ${TS}) AS ${DATE}) AND d.user_id = a.user_id AND d.day >= CAST(a.from_day AS ${DATE})`, ['user_id', 'day'], '__aff a'), [fromDay]);
    // (A session starting at or after start_u ends within a gap of t0 or later, so it is among __recent.)
    await step(engine, 'tiles: delete sessions', d.deleteWhere('sessions', '', `${d.rowIdentity(SESSION_KEY)} IN (SELECT r.rid FROM __recent r JOIN __aff a ON a.user_id = r.user_id AND r.session_start >= a.start_u)`, SESSION_KEY));
    await step(engine, 'tiles: delete quiz starts', d.deleteWhere('quiz_first_starts', 'q', `q.first_ts >= CAST($1 AS ${TS}) AND q.user_id = a.user_id AND q.first_ts >= a.from_day`, ['user_id', 'object_id'], '__aff a'), [fromDay]);
  }

  // One sorted pass over (learner, time): each event learns whether it starts a session (the previous
  // event is more than a gap earlier, or absent) and whether it ends one (likewise for the next event).
  // In an incremental run the learner's last event before from_day is read as context (ctx) for the
  // first; only one within a gap of from_day can matter (an earlier one leaves the next event a session
  // start, as no previous event would). The events needed (from a gap before from_day) are read once.
  if (!full) {
    await step(engine, 'tiles: events to reread', `CREATE TEMPORARY TABLE __inc_ev AS
      SELECT u.uid, e.timestamp_utc AS ts, e.event_type, e.object_id, e.duration_seconds, e.timestamp_utc < u.from_day AS before
      FROM (SELECT user_id, timestamp_utc, event_type, object_id, duration_seconds FROM events WHERE timestamp_utc >= CAST($1 AS ${TS})) e
      JOIN __uid u ON u.user_id = e.user_id AND e.timestamp_utc >= u.from_day - ${gap}`, [readFrom]);
  }
  // Event types travel as their index in EVENT_TYPES (a 1-byte code instead of a string): the sorted
  // pass below holds every event read, and its size decides whether the build fits in memory.
  const ty = (col: string) => d.positionCode(EVENT_TYPES, col);
  const read = full
    ? `SELECT u.uid, e.timestamp_utc AS ts, ${ty('e.event_type')} AS ty, e.duration_seconds, false AS ctx FROM events e JOIN __uid u USING (user_id)`
    : `SELECT uid, ts, ${ty('event_type')} AS ty, duration_seconds, false AS ctx FROM __inc_ev WHERE NOT before
       UNION ALL
       SELECT uid, max(ts), NULL, NULL, true FROM __inc_ev WHERE before GROUP BY uid`;

  // First start of each quiz: new pairs only (a pair already known before the recomputed range stays).
  // Done before the sorted pass, and reduced to counts per learner and day, so that little is held in
  // memory next to it.
  await step(engine, 'tiles: quiz first starts', full
    ? `CREATE TEMPORARY TABLE __quiz_new AS
        SELECT u.uid, e.object_id, min(e.timestamp_utc) AS first_ts
        FROM events e JOIN __uid u USING (user_id)
        WHERE e.event_type = 'quiz_start' AND e.object_id IS NOT NULL
        GROUP BY 1, 2`
    : `CREATE TEMPORARY TABLE __quiz_new AS
        SELECT q.uid, q.object_id, min(q.ts) AS first_ts
        FROM __inc_ev q JOIN __uid u USING (uid)
        WHERE NOT q.before AND q.event_type = 'quiz_start' AND q.object_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM quiz_first_starts k WHERE k.user_id = u.user_id AND k.object_id = q.object_id)
        GROUP BY 1, 2`);
  await step(engine, 'tiles: insert quiz starts', `INSERT INTO quiz_first_starts SELECT u.user_id, q.object_id, q.first_ts FROM __quiz_new q JOIN __uid u USING (uid)`);
  await engine.run(`CREATE TEMPORARY TABLE __quiz_day AS SELECT uid, CAST(first_ts AS ${DATE}) AS day, count(*) AS n FROM __quiz_new GROUP BY 1, 2`);
  await engine.run(`DROP TABLE __quiz_new`);

  // The sorted pass also marks events alone on their UTC day (single): their day tile is the event
  // itself, so only the other events go through the GROUP BY (on sparse activity, most days have one event).
  await step(engine, 'tiles: events in order', `CREATE TEMPORARY TABLE __ev AS
    SELECT uid, ts, ty, duration_seconds, ctx, CAST(rn AS INTEGER) AS rn,
      (prev IS NULL OR ${d.gapExceeded('ts', 'prev', gap)}) AS is_start,
      (next IS NULL OR ${d.gapExceeded('next', 'ts', gap)}) AS is_end,
      CASE WHEN NOT (prev IS NULL OR ${d.gapExceeded('ts', 'prev', gap)}) THEN ${d.secondsBetween('ts', 'prev')} END AS step_seconds,
      (prev IS NULL OR CAST(prev AS ${DATE}) <> CAST(ts AS ${DATE})) AND (next IS NULL OR CAST(next AS ${DATE}) <> CAST(ts AS ${DATE})) AS single
    FROM (
      SELECT *, ${d.lag('ts')} OVER w AS prev, ${d.lead('ts')} OVER w AS next, row_number() OVER w AS rn
      FROM (${read}) WINDOW w AS (PARTITION BY uid ORDER BY ts))`);

  // Sessions from their boundary events. An event that both starts and ends a session is a one-event
  // session. Otherwise a session runs from a start-only event to the next end-only event: among those
  // boundary events alone, a learner's start-only and end-only events alternate, so each start pairs with
  // the next one (its end; the row numbers give its event count). Only these few events need a second
  // sorted pass. Only sessions from start_u on are recomputed.
  const since = full ? '' : 'AND ts >= (SELECT a.start_u FROM __uid a WHERE a.uid = x.uid)';
  await step(engine, 'tiles: sessions', `INSERT INTO sessions
    SELECT u.user_id, b.ts, b.session_end, b.events
    FROM (
      SELECT uid, ts, ts AS session_end, 1 AS events FROM __ev x WHERE NOT ctx AND is_start AND is_end ${since}
      UNION ALL
      SELECT uid, ts, next_ts, next_rn - rn + 1 FROM (
        SELECT uid, ts, rn, is_start, ${d.lead('ts')} OVER w AS next_ts, ${d.lead('rn')} OVER w AS next_rn
        FROM __ev x WHERE NOT ctx AND is_start <> is_end ${since}
        WINDOW w AS (PARTITION BY uid ORDER BY rn))
      WHERE is_start) b
    JOIN __uid u USING (uid)`);

  // Day tiles: aggregated by integer keys, the pseudonyms joined back, and the tile written in one
  // statement (nothing as large as the events is materialised next to them).
  // Per-type counts are computed only for the types present in the events read (the others are 0):
  // each counted type adds a column to every one of the (many) day groups.
  const present = new Set((await engine.all<{ t: number }>(`SELECT DISTINCT ty AS t FROM __ev WHERE NOT ctx AND ty IS NOT NULL`)).map((r) => EVENT_TYPES[Number(r.t) - 1]));
  const typeCols = EVENT_TYPES.map((t, i) => (present.has(t) ? `, count(*) FILTER (WHERE ty = ${i + 1}) AS n_${t}` : '')).join('');
  const typeSingle = EVENT_TYPES.map((t, i) => (present.has(t) ? `, CAST(coalesce(ty = ${i + 1}, false) AS BIGINT)` : '')).join('');
  const typeNames = EVENT_TYPES.map((t) => `n_${t}`);
  await step(engine, 'tiles: user_day', `INSERT INTO user_day (user_id, day, events, duration_seconds, first_ts, last_ts, sessions_started, session_seconds, new_quiz_objects, ${typeNames.join(', ')})
    SELECT u.user_id, d.day, d.events, d.duration_seconds, d.first_ts, d.last_ts, d.sessions_started, d.session_seconds, coalesce(q.n, 0), ${EVENT_TYPES.map((t) => (present.has(t) ? `d.n_${t}` : '0')).join(', ')}
    FROM (
      SELECT uid, CAST(ts AS ${DATE}) AS day, count(*) AS events, coalesce(${d.floatSum('duration_seconds')}, 0) AS duration_seconds,
        min(ts) AS first_ts, max(ts) AS last_ts,
        count(*) FILTER (WHERE is_start) AS sessions_started,
        coalesce(${d.floatSum('step_seconds')}, 0) AS session_seconds
        ${typeCols}
      FROM __ev WHERE NOT ctx AND NOT single GROUP BY 1, 2
      UNION ALL
      -- (+ 0.0: as a sum would, turns a -0.0 duration into 0.0)
      SELECT uid, CAST(ts AS ${DATE}), CAST(1 AS BIGINT), coalesce(duration_seconds, 0) + 0.0, ts, ts, CAST(is_start AS BIGINT), coalesce(step_seconds, 0)
        ${typeSingle}
      FROM __ev WHERE NOT ctx AND single) d
    JOIN __uid u USING (uid)
    LEFT JOIN __quiz_day q USING (uid, day)`);
  const eventsRead = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM __ev`))?.n ?? 0);
  await engine.run(`DROP TABLE __ev`);

  // Assessments: day tiles from the earliest new submission of each learner.
  // (A full build reads every submission and needs no __aff_a.)
  if (!full) {
    await engine.run(`CREATE TEMPORARY TABLE __aff_a AS SELECT user_id, CAST(date_trunc('day', min(submitted_at)) AS ${TS}) AS from_day FROM assessments WHERE load_id > ${sinceLoad} GROUP BY 1`);
    await step(engine, 'tiles: delete assessment days', d.deleteWhere('user_day_assessments', 'd', `d.user_id = a.user_id AND d.day >= CAST(a.from_day AS ${DATE})`, ['user_id', 'day'], '__aff_a a'));
  }
  await step(engine, 'tiles: assessments', `INSERT INTO user_day_assessments
    SELECT s.user_id, CAST(s.submitted_at AS ${DATE}) AS day, count(*), count(*) FILTER (WHERE s.passed), count(s.passed),
      coalesce(${d.floatSum('s.score / s.max_score', 's.max_score > 0')}, 0), count(*) FILTER (WHERE s.score IS NOT NULL AND s.max_score > 0)
    FROM assessments s ${full ? '' : 'JOIN __aff_a a ON a.user_id = s.user_id AND s.submitted_at >= a.from_day'}
    GROUP BY 1, 2`);

  const users = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM __uid`);
  for (const t of temps) await engine.run(`DROP TABLE IF EXISTS ${t}`);
  return { mode: full ? 'full' : 'incremental', users: Number(users?.n ?? 0), events_read: eventsRead, last_load_id: maxLoad };
}
