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
// just before it, so the learner's last event before that day is read as context.
import type { Engine } from '../engine/engine.js';
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
    let result: TileUpdate;
    if (full) {
      result = await rebuild(engine, o, null, maxLoad);
    } else {
      // (Identity resolution that re-keys older rows clears tile_state, which forces a full rebuild.)
      result = await rebuild(engine, o, Number(state!.last_load_id), maxLoad);
    }
    await engine.run(`DELETE FROM tile_state WHERE tile = $1`, [TILE]);
    await engine.run(`INSERT INTO tile_state VALUES ($1, $2, $3)`, [TILE, maxLoad, settings]);
    return result;
  });
}

/** Recomputes tiles for every learner (sinceLoad null) or for those with rows loaded after sinceLoad. */
async function rebuild(engine: Engine, o: TileOptions, sinceLoad: number | null, maxLoad: number): Promise<TileUpdate> {
  const gap = `INTERVAL ${Math.round(o.sessionGapMinutes * 60)} SECOND`;
  const full = sinceLoad === null;
  const newSession = `(prev IS NULL OR ts - prev > ${gap})`;
  for (const t of ['__aff', '__ea', '__quiz_new', '__aff_a']) await engine.run(`DROP TABLE IF EXISTS ${t}`);

  if (full) {
    for (const t of ['user_day', 'user_day_assessments', 'sessions', 'quiz_first_starts']) await engine.run(`DELETE FROM ${t}`);
    // One window pass: each event with the time of the learner's previous event.
    await engine.run(`CREATE TEMP TABLE __ea AS
      SELECT *, sum(CASE WHEN ${newSession} THEN 1 ELSE 0 END) OVER (PARTITION BY user_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS sid FROM (
        SELECT user_id, timestamp_utc AS ts, event_type, object_id, duration_seconds, false AS ctx,
          lag(timestamp_utc) OVER (PARTITION BY user_id ORDER BY timestamp_utc) AS prev
        FROM events)`);
  } else {
    // Learners with new events, and where their recomputation starts (see the header).
    await engine.run(`CREATE TEMP TABLE __aff AS
      WITH t0 AS (SELECT user_id, min(timestamp_utc) AS t0 FROM events WHERE load_id > ${sinceLoad} GROUP BY 1)
      SELECT t0.user_id, least(t0.t0, min(s.session_start)) AS start_u, CAST(date_trunc('day', least(t0.t0, min(s.session_start))) AS TIMESTAMP) AS from_day
      FROM t0 LEFT JOIN sessions s ON s.user_id = t0.user_id AND s.session_end >= t0.t0 - ${gap}
      GROUP BY t0.user_id, t0.t0`);
    await engine.run(`DELETE FROM user_day d USING __aff a WHERE d.user_id = a.user_id AND d.day >= CAST(a.from_day AS DATE)`);
    await engine.run(`DELETE FROM sessions s USING __aff a WHERE s.user_id = a.user_id AND s.session_start >= a.start_u`);
    await engine.run(`DELETE FROM quiz_first_starts q USING __aff a WHERE q.user_id = a.user_id AND q.first_ts >= a.from_day`);
    await engine.run(`CREATE TEMP TABLE __ea AS
      SELECT *, sum(CASE WHEN ${newSession} THEN 1 ELSE 0 END) OVER (PARTITION BY user_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS sid FROM (
      SELECT user_id, ts, event_type, object_id, duration_seconds, ctx, lag(ts) OVER (PARTITION BY user_id ORDER BY ts) AS prev FROM (
        SELECT e.user_id, e.timestamp_utc AS ts, e.event_type, e.object_id, e.duration_seconds, false AS ctx
        FROM events e JOIN __aff a ON a.user_id = e.user_id AND e.timestamp_utc >= a.from_day
        UNION ALL
        SELECT e.user_id, max(e.timestamp_utc), NULL, NULL, NULL, true FROM events e JOIN __aff a ON a.user_id = e.user_id AND e.timestamp_utc < a.from_day GROUP BY e.user_id))`);
  }

  // First start of each quiz: new pairs only (a pair already known before the recomputed range stays).
  await engine.run(`CREATE TEMP TABLE __quiz_new AS
    SELECT q.user_id, q.object_id, min(q.ts) AS first_ts FROM __ea q
    WHERE NOT q.ctx AND q.event_type = 'quiz_start' AND q.object_id IS NOT NULL
      ${full ? '' : 'AND NOT EXISTS (SELECT 1 FROM quiz_first_starts k WHERE k.user_id = q.user_id AND k.object_id = q.object_id)'}
    GROUP BY 1, 2`);
  await engine.run(`INSERT INTO quiz_first_starts SELECT user_id, object_id, first_ts FROM __quiz_new`);

  const typeCols = EVENT_TYPES.map((t) => `count(*) FILTER (WHERE event_type = '${t}') AS n_${t}`).join(', ');
  const typeNames = EVENT_TYPES.map((t) => `n_${t}`);
  await engine.run(`INSERT INTO user_day (user_id, day, events, duration_seconds, first_ts, last_ts, sessions_started, session_seconds, new_quiz_objects, ${typeNames.join(', ')})
    SELECT d.user_id, d.day, d.events, d.duration_seconds, d.first_ts, d.last_ts, d.sessions_started, d.session_seconds, coalesce(q.n, 0), ${typeNames.map((n) => `d.${n}`).join(', ')}
    FROM (
      SELECT user_id, CAST(ts AS DATE) AS day, count(*) AS events, coalesce(sum(duration_seconds), 0) AS duration_seconds,
        min(ts) AS first_ts, max(ts) AS last_ts,
        count(*) FILTER (WHERE ${newSession}) AS sessions_started,
        coalesce(sum(epoch(ts - prev)) FILTER (WHERE NOT ${newSession}), 0) AS session_seconds,
        ${typeCols}
      FROM __ea WHERE NOT ctx GROUP BY 1, 2) d
    LEFT JOIN (SELECT user_id, CAST(first_ts AS DATE) AS day, count(*) AS n FROM __quiz_new GROUP BY 1, 2) q USING (user_id, day)`);

  // Sessions: number each learner's sessions (a running count of session starts), then one group by.
  await engine.run(`INSERT INTO sessions
    SELECT user_id, min(ts), max(ts), count(*) FROM __ea x
    WHERE NOT ctx ${full ? '' : 'AND ts >= (SELECT a.start_u FROM __aff a WHERE a.user_id = x.user_id)'}
    GROUP BY user_id, sid`);

  // Assessments: day tiles from the earliest new submission of each learner.
  if (full) {
    await engine.run(`CREATE TEMP TABLE __aff_a AS SELECT DISTINCT user_id, CAST('-infinity' AS TIMESTAMP) AS from_day FROM assessments`);
  } else {
    await engine.run(`CREATE TEMP TABLE __aff_a AS SELECT user_id, CAST(date_trunc('day', min(submitted_at)) AS TIMESTAMP) AS from_day FROM assessments WHERE load_id > ${sinceLoad} GROUP BY 1`);
    await engine.run(`DELETE FROM user_day_assessments d USING __aff_a a WHERE d.user_id = a.user_id AND d.day >= CAST(a.from_day AS DATE)`);
  }
  await engine.run(`INSERT INTO user_day_assessments
    SELECT s.user_id, CAST(s.submitted_at AS DATE) AS day, count(*), count(*) FILTER (WHERE s.passed), count(s.passed),
      coalesce(sum(s.score / s.max_score) FILTER (WHERE s.max_score > 0), 0), count(*) FILTER (WHERE s.score IS NOT NULL AND s.max_score > 0)
    FROM assessments s ${full ? '' : 'JOIN __aff_a a ON a.user_id = s.user_id AND s.submitted_at >= a.from_day'}
    GROUP BY 1, 2`);

  const users = full ? await engine.one<{ n: number }>(`SELECT count(DISTINCT user_id) AS n FROM events`) : await engine.one<{ n: number }>(`SELECT count(*) AS n FROM __aff`);
  const read = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM __ea`);
  for (const t of ['__aff', '__ea', '__quiz_new', '__aff_a']) await engine.run(`DROP TABLE IF EXISTS ${t}`);
  return { mode: full ? 'full' : 'incremental', users: Number(users?.n ?? 0), events_read: Number(read?.n ?? 0), last_load_id: maxLoad };
}
