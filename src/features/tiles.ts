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
  /**
   * Event types to count per day (user_day.n_<type>; the others are NULL). Default: every type. Each
   * counted type is a column on every day tile, so the pipeline counts only what its features read
   * (tileEventTypes); a change of the list rebuilds the tiles, as a change of the session gap does.
   */
  eventTypes?: readonly string[];
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
const SESSION_KEY = ['uid', 'session_start'];

function countedTypes(o: TileOptions): string[] {
  const types: readonly string[] = o.eventTypes ?? EVENT_TYPES;
  const unknown = types.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length) throw new Error(`tiles: unknown event types ${unknown.join(', ')} (canonical types: ${EVENT_TYPES.join(', ')})`);
  return EVENT_TYPES.filter((t) => types.includes(t));
}

function settingsOf(o: TileOptions): string {
  return JSON.stringify({ version: 2, session_gap_minutes: o.sessionGapMinutes, event_types: countedTypes(o) });
}

/** The event types the tiles count, from their recorded settings (every type for tiles built before the list was recorded). */
export async function countedTileTypes(engine: Engine): Promise<string[]> {
  const state = await engine.one<{ settings: string }>(`SELECT settings FROM tile_state WHERE tile = $1`, [TILE]);
  const types = state ? (JSON.parse(state.settings) as { event_types?: string[] }).event_types : undefined;
  return types ?? [...EVENT_TYPES];
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
  const temps = ['__learners', '__t0', '__recent', '__lo', '__inc_read', '__uid', '__inc_ev', '__ev', '__quiz_new', '__quiz_day', '__aff_a'];
  for (const t of temps) await engine.run(`DROP TABLE IF EXISTS ${t}`);

  // __uid: the learners to recompute, with their integer key (uid, from learner_keys), used instead of
  // the 32-character pseudonym while sorting, grouping and in the tiles themselves (far less memory,
  // comparison and write work), and where their recomputation starts (start_u: a session boundary;
  // from_day: its UTC day).
  if (full) {
    for (const t of ['user_day', 'user_day_assessments', 'sessions', 'quiz_first_starts']) await engine.run(d.deleteAll(t));
    await step(engine, 'tiles: learner keys', [
      `CREATE TEMPORARY TABLE __learners AS SELECT DISTINCT user_id FROM events`,
      addLearnerKeys(engine, '__learners'),
      `CREATE TEMPORARY TABLE __uid AS
        SELECT k.uid AS uid, k.user_id AS user_id, CAST(NULL AS ${TS}) AS start_u, CAST(NULL AS ${TS}) AS from_day FROM learner_keys k JOIN __learners n ON n.user_id = k.user_id`,
    ]);
  } else {
    // Learners with new events, and where their recomputation starts (see the header). Each join against
    // a tile or the event log is first narrowed by a constant bound (the earliest new event, the earliest
    // day read), a cheap timestamp filter that spares hashing pseudonyms of rows that cannot match.
    const t0min = (await engine.one<{ t: string | null }>(`SELECT ${d.toText('min(timestamp_utc)')} AS t FROM events WHERE load_id > ${sinceLoad}`))?.t ?? null;
    await step(engine, 'tiles: learner keys', [
      `CREATE TEMPORARY TABLE __t0 AS SELECT user_id, min(timestamp_utc) AS t0 FROM events WHERE load_id > ${sinceLoad} GROUP BY 1`,
      addLearnerKeys(engine, '__t0'),
    ]);
    // Every session a late or new event can change ends within a gap before the earliest new event;
    // they are read once (with their row ids, for the delete below).
    await step(engine, 'tiles: recent sessions', `CREATE TEMPORARY TABLE __recent AS
      SELECT ${d.rowIdentity(SESSION_KEY)} AS rid, uid, session_start, session_end FROM sessions WHERE session_end >= CAST($1 AS ${TS}) - ${gap}`, [t0min]);
    // start_u is the earliest start of a session ending within a gap before t0, or t0. Such a session
    // has its last event there. One of more than one event is among __recent (rs: the earliest start);
    // one of a single event is not stored and starts at that event, so the learner's earliest event from
    // t0 - gap is a candidate too (any event there lies in such a session, which starts no later). Both
    // are at or after lo = least(t0 - gap, rs), so the events from a gap before lo's day are read once
    // (__inc_read), and everything below is taken from them.
    await engine.run(`CREATE TEMPORARY TABLE __lo AS
      SELECT k.uid AS uid, k.user_id AS user_id, t.t0 AS t0, x.rs AS rs, CAST(date_trunc('day', least(t.t0 - ${gap}, coalesce(x.rs, t.t0))) AS ${TS}) AS lo_day
      FROM __t0 t JOIN learner_keys k ON k.user_id = t.user_id
      LEFT JOIN (SELECT s.uid AS uid, min(s.session_start) AS rs FROM __recent s JOIN learner_keys k ON k.uid = s.uid JOIN __t0 t ON t.user_id = k.user_id
                 WHERE s.session_end >= t.t0 - ${gap} GROUP BY 1) x ON x.uid = k.uid`);
    const lo = (await engine.one<{ c: string | null }>(`SELECT ${d.toText(`min(lo_day) - ${gap}`)} AS c FROM __lo`))?.c ?? null;
    await step(engine, 'tiles: events to reread', `CREATE TEMPORARY TABLE __inc_read AS
      SELECT l.uid AS uid, e.timestamp_utc AS ts, e.event_type AS event_type, e.object_id AS object_id, e.duration_seconds AS duration_seconds
      FROM (SELECT user_id, timestamp_utc, event_type, object_id, duration_seconds FROM events WHERE timestamp_utc >= CAST($1 AS ${TS})) e
      JOIN __lo l ON l.user_id = e.user_id AND e.timestamp_utc >= l.lo_day - ${gap}`, [lo]);
    await step(engine, 'tiles: affected learners', `CREATE TEMPORARY TABLE __uid AS
      SELECT uid, user_id, start_u, CAST(date_trunc('day', start_u) AS ${TS}) AS from_day FROM (
        SELECT l.uid AS uid, l.user_id AS user_id, least(l.t0, coalesce(min(r.ts), l.t0), coalesce(l.rs, l.t0)) AS start_u
        FROM __lo l LEFT JOIN __inc_read r ON r.uid = l.uid AND r.ts >= l.t0 - ${gap}
        GROUP BY l.uid, l.user_id, l.t0, l.rs)`);
    const fromDay = (await engine.one<{ f: string | null }>(`SELECT ${d.toText('min(from_day)')} AS f FROM __uid`))?.f ?? null;
    await step(engine, 'tiles: delete user_day', d.deleteWhere('user_day', 'd', `d.day >= CAST(CAST($1 AS ${TS}) AS ${DATE}) AND d.uid = a.uid AND d.day >= CAST(a.from_day AS ${DATE})`, ['uid', 'day'], '__uid a'), [fromDay]);
    // (A session starting at or after start_u ends within a gap of t0 or later, so it is among __recent.)
    await step(engine, 'tiles: delete sessions', d.deleteWhere('sessions', '', `${d.rowIdentity(SESSION_KEY)} IN (SELECT r.rid FROM __recent r JOIN __uid a ON a.uid = r.uid AND r.session_start >= a.start_u)`, SESSION_KEY));
    await step(engine, 'tiles: delete quiz starts', d.deleteWhere('quiz_first_starts', 'q', `q.first_ts >= CAST($1 AS ${TS}) AND q.uid = a.uid AND q.first_ts >= a.from_day`, ['uid', 'object_id'], '__uid a'), [fromDay]);
    // The events the recomputation reads: from from_day on, and those within a gap before it, the
    // last of which is read as context (ctx, below) for the first session gap. (An earlier event
    // leaves the first one a session start, as no previous event would.)
    await engine.run(`CREATE TEMPORARY TABLE __inc_ev AS
      SELECT r.uid AS uid, r.ts AS ts, r.event_type AS event_type, r.object_id AS object_id, r.duration_seconds AS duration_seconds, r.ts < u.from_day AS before
      FROM __inc_read r JOIN __uid u ON u.uid = r.uid AND r.ts >= u.from_day - ${gap}`);
  }

  // One sorted pass over (learner, time): each event learns whether it starts a session (the previous
  // event is more than a gap earlier, or absent) and whether it ends one (likewise for the next event).
  // In an incremental run the learner's last event before from_day is the context row (ctx) for the first.
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
        FROM __inc_ev q
        WHERE NOT q.before AND q.event_type = 'quiz_start' AND q.object_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM quiz_first_starts k WHERE k.uid = q.uid AND k.object_id = q.object_id)
        GROUP BY 1, 2`);
  await step(engine, 'tiles: insert quiz starts', `INSERT INTO quiz_first_starts SELECT uid, object_id, first_ts FROM __quiz_new`);
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

  // Sessions of more than one event, from their boundary events: among the events that start a session
  // but do not end it (start-only) and those that end one but do not start it (end-only), a learner's
  // start-only and end-only events alternate, so each start pairs with the next one (its end; the row
  // numbers give its event count). Only these few events need a second sorted pass. An event that both
  // starts and ends a session is a session of one event: not stored (user_day counts it; see
  // 'affected learners' for how the incremental rule finds it). Only sessions from start_u on are
  // recomputed.
  const since = full ? '' : 'AND ts >= (SELECT a.start_u FROM __uid a WHERE a.uid = x.uid)';
  await step(engine, 'tiles: sessions', `INSERT INTO sessions
    SELECT uid, ts, next_ts, next_rn - rn + 1 FROM (
      SELECT uid, ts, rn, is_start, ${d.lead('ts')} OVER w AS next_ts, ${d.lead('rn')} OVER w AS next_rn
      FROM __ev x WHERE NOT ctx AND is_start <> is_end ${since}
      WINDOW w AS (PARTITION BY uid ORDER BY rn))
    WHERE is_start`);

  // Day tiles: aggregated by integer keys and written in one statement (nothing as large as the events
  // is materialised next to them).
  // Per-type counts only for the counted types (the others are NULL), and among those only for the
  // types present in the events read (the others are 0): each one adds a column to every one of the
  // (many) day groups.
  const counted = new Set<string>(countedTypes(o));
  const present = new Set<string>((await engine.all<{ t: number }>(`SELECT DISTINCT ty AS t FROM __ev WHERE NOT ctx AND ty IS NOT NULL`)).map((r) => EVENT_TYPES[Number(r.t) - 1]).filter((t) => counted.has(t)));
  const typeCols = EVENT_TYPES.map((t, i) => (present.has(t) ? `, count(*) FILTER (WHERE ty = ${i + 1}) AS n_${t}` : '')).join('');
  const typeSingle = EVENT_TYPES.map((t, i) => (present.has(t) ? `, CAST(coalesce(ty = ${i + 1}, false) AS BIGINT)` : '')).join('');
  const typeValue = (t: string) => (present.has(t) ? `d.n_${t}` : counted.has(t) ? '0' : d.typedNull('bigint'));
  const typeNames = EVENT_TYPES.map((t) => `n_${t}`);
  await step(engine, 'tiles: user_day', `INSERT INTO user_day (uid, day, events, duration_seconds, first_ts, last_ts, sessions_started, session_seconds, new_quiz_objects, ${typeNames.join(', ')})
    SELECT d.uid, d.day, d.events, d.duration_seconds, d.first_ts, d.last_ts, d.sessions_started, d.session_seconds, coalesce(q.n, 0), ${EVENT_TYPES.map(typeValue).join(', ')}
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

/**
 * The statement giving learners of `table` (a user_id column) that have no key yet the next integer
 * keys, in pseudonym order (so two engines, or two rebuilds of the same loads, give the same keys).
 */
function addLearnerKeys(engine: Engine, table: string): string {
  return `INSERT INTO learner_keys
    SELECT n.user_id, CAST((SELECT coalesce(max(uid), 0) FROM learner_keys) + row_number() OVER (ORDER BY n.user_id) AS INTEGER)
    FROM ${table} n ${engine.dialect.antiJoin()} learner_keys k ON k.user_id = n.user_id`;
}
