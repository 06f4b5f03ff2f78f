import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { updateTiles } from '../src/features/tiles.js';
import { buildSpine, computeFeatures } from '../src/features/compute.js';
import { FeatureConfigError, resolveFeatures, tileEventTypes } from '../src/features/library.js';
import { DEFAULT_FEATURES, featuresSchema, spineSchema } from '../src/config/modeling.js';
import type { Engine } from '../src/engine/engine.js';
import { addAssessments, addEvents, addHr, memoryWarehouse } from './helpers/warehouse.js';

const SPECS = resolveFeatures(featuresSchema.parse({}).definitions);
const spineAt = (...dates: string[]) => spineSchema.parse({ dates, population: 'all_users' });

async function features(engine: Engine, dates: string[], users = ['A']): Promise<Record<string, unknown>[]> {
  await engine.run(`DELETE FROM users`);
  for (const u of users) await engine.run(`INSERT INTO users (user_id, source_ids, match_rule) VALUES ($1, [], 'unmatched')`, [u]);
  await updateTiles(engine, { sessionGapMinutes: 30 });
  await buildSpine(engine, spineAt(...dates), '2030-01-01');
  await computeFeatures(engine, SPECS);
  return engine.all(`SELECT * EXCLUDE (course_id) FROM features ORDER BY user_id, cutoff`);
}

test('every default feature matches a hand-computed value', async () => {
  const engine = await memoryWarehouse();
  await addEvents(engine, [
    ['A', '2024-01-01 10:00:00', 'view', 'c1', 60],
    ['A', '2024-01-01 10:20:00', 'quiz_start', 'q1'],
    ['A', '2024-01-01 11:30:00', 'view', 'c1', 30], // 70 minutes later: a new session
    ['A', '2024-01-05 09:00:00', 'quiz_start', 'q1'],
    ['A', '2024-01-05 09:10:00', 'quiz_start', 'q2'],
    ['A', '2024-01-09 23:59:59', 'login'],
    ['A', '2024-01-10 00:00:00', 'view', 'c1', 999], // at the cutoff: not seen
    ['B', '2024-01-02 08:00:00', 'view', 'c1', 5],
  ]);
  await addAssessments(engine, [
    ['A', '2024-01-04 12:00:00', 8, 10, true],
    ['A', '2024-01-06 12:00:00', 4, 10, false],
    ['A', '2024-01-11 12:00:00', 10, 10, true], // after the cutoff
  ]);
  await addHr(engine, [
    ['A', '2023-01-01', '2024-01-08', 'active', 'L1', 'M', '2023-01-01'],
    ['A', '2024-01-08', null, 'active', 'L2', 'M', '2023-01-01'],
    ['B', '2023-06-01', null, 'active', 'L1', 'M', '2023-06-01'],
    ['C', '2023-06-01', '2024-01-03', 'active', 'L1', 'M', '2023-06-01'],
    ['C', '2024-01-03', null, 'terminated', 'L1', 'M', '2023-06-01'],
  ]);
  const [a] = await features(engine, ['2024-01-10'], ['A', 'B']);
  a.quiz_avg_score = Math.round(Number(a.quiz_avg_score) * 1e9) / 1e9; // (0.8 + 0.4) / 2 in floating point
  assert.deepEqual({ ...a, cutoff: undefined, user_id: undefined }, {
    user_id: undefined,
    cutoff: undefined,
    total_events: 6,
    total_time: 90,
    events_7d: 3, // Jan 3–9
    events_30d: 6,
    active_days_7d: 2,
    active_days_30d: 3,
    sessions: 4,
    avg_session_duration_s: (20 * 60 + 10 * 60) / 4,
    attempts_per_quiz: 1.5,
    quiz_attempts: 2,
    quiz_pass_rate: 0.5,
    quiz_avg_score: 0.6,
    first_to_last_gap_s: 8 * 86400 + 13 * 3600 + 59 * 60 + 59,
    recency_s: 1,
    last_login_gap_days: 1,
    trend_7d: 0, // 3 events in Jan 3–9, 3 in Dec 27–Jan 2
    events_view: 2,
    events_submit: 0,
    events_forum_post: 0,
    role_level: 'L2',
    employment_status: 'active',
    tenure_days: 374,
    manager_team_size: 2, // A and B; C has left
  });
  await engine.close();
});

test('a learner with no history gets zero counts and NULL ratios and gaps', async () => {
  const engine = await memoryWarehouse();
  await addEvents(engine, [['B', '2024-02-01 08:00:00', 'view', 'c1', 5]]);
  const [a] = await features(engine, ['2024-01-10'], ['A']);
  assert.equal(a.total_events, 0);
  assert.equal(a.events_7d, 0);
  assert.equal(a.sessions, 0);
  assert.equal(a.recency_s, null);
  assert.equal(a.attempts_per_quiz, null);
  assert.equal(a.trend_7d, null);
  await engine.close();
});

test('windows a user names and event-type counts', async () => {
  const engine = await memoryWarehouse();
  await addEvents(engine, [
    ['A', '2024-01-01 10:00:00', 'view'],
    ['A', '2024-01-07 10:00:00', 'submit'],
    ['A', '2024-01-08 10:00:00', 'submit'],
  ]);
  await updateTiles(engine, { sessionGapMinutes: 30 });
  await engine.run(`INSERT INTO users (user_id, source_ids, match_rule) VALUES ('A', [], 'unmatched')`);
  await buildSpine(engine, spineAt('2024-01-10'), '2030-01-01');
  const specs = resolveFeatures([{ kind: 'events', window_days: 3 }, { kind: 'event_type_count', event_type: 'submit', window_days: 2 }, { kind: 'active_days', window_days: 10, name: 'busy_days' }]);
  await computeFeatures(engine, specs);
  const [r] = await engine.all(`SELECT events_3d, events_submit_2d, busy_days FROM features`);
  assert.deepEqual(r, { events_3d: 2, events_submit_2d: 1, busy_days: 3 });
  assert.throws(() => resolveFeatures(['events']), /events needs window_days/);
  assert.throws(() => resolveFeatures(['total_events', 'total_events']), /two features are named total_events/);
  await engine.close();
});

// Point in time: events at or after the cutoff never change the features at the cutoff, whether the
// tiles are rebuilt or updated incrementally; and incremental tiles equal a full rebuild.
const CUT = Date.UTC(2024, 2, 1);
const arbEvent = (from: number, to: number) =>
  fc.record({
    user: fc.constantFrom('A', 'B', 'C'),
    t: fc.integer({ min: from, max: to - 1 }),
    type: fc.constantFrom('view', 'quiz_start', 'login', 'submit'),
    object: fc.constantFrom('q1', 'q2', null),
    duration: fc.option(fc.integer({ min: 0, max: 3600 }), { nil: null }),
  });
const toEv = (e: { user: string; t: number; type: string; object: string | null; duration: number | null }) =>
  [e.user, new Date(e.t).toISOString().replace('T', ' ').replace('Z', ''), e.type, e.object, e.duration] as [string, string, string, string | null, number | null];

test('point in time: adding events at or after the cutoff never changes features at the cutoff', async () => {
  const engine = await memoryWarehouse();
  await fc.assert(
    fc.asyncProperty(
      fc.array(arbEvent(CUT - 40 * 86_400_000, CUT), { minLength: 1, maxLength: 40 }),
      fc.array(arbEvent(CUT, CUT + 20 * 86_400_000), { minLength: 1, maxLength: 20 }),
      fc.boolean(),
      async (before, after, exactlyAtCutoff) => {
        for (const t of ['events', 'loads', 'user_day', 'sessions', 'quiz_first_starts', 'tile_state', 'user_day_assessments']) await engine.run(`DELETE FROM ${t}`);
        await addEvents(engine, before.map(toEv));
        const dates = ['2024-02-15', '2024-03-01'];
        const base = await features(engine, dates, ['A', 'B', 'C']);
        if (exactlyAtCutoff) after[0] = { ...after[0], t: CUT };
        await addEvents(engine, after.map(toEv));
        const incremental = await features(engine, dates, ['A', 'B', 'C']);
        assert.deepEqual(incremental, base);
        await computeFeatures(engine, SPECS, { full: true });
        assert.deepEqual(await engine.all(`SELECT * EXCLUDE (course_id) FROM features ORDER BY user_id, cutoff`), base, 'incremental features equal a full recompute');
        const tilesIncremental = await engine.all(`SELECT * FROM user_day ORDER BY ALL`);
        const sessionsIncremental = await engine.all(`SELECT * FROM sessions ORDER BY ALL`);
        await updateTiles(engine, { sessionGapMinutes: 30, full: true });
        assert.deepEqual(await engine.all(`SELECT * FROM user_day ORDER BY ALL`), tilesIncremental, 'incremental tiles equal a full rebuild');
        assert.deepEqual(await engine.all(`SELECT * FROM sessions ORDER BY ALL`), sessionsIncremental, 'incremental sessions equal a full rebuild');
      },
    ),
    { numRuns: 25, seed: 20241125 },
  );
  await engine.close();
});

test('late events inside the recomputed range: incremental tiles equal a full rebuild', async () => {
  const engine = await memoryWarehouse();
  await fc.assert(
    fc.asyncProperty(fc.array(arbEvent(CUT - 10 * 86_400_000, CUT), { minLength: 1, maxLength: 30 }), fc.array(arbEvent(CUT - 10 * 86_400_000, CUT), { minLength: 1, maxLength: 10 }), async (first, late) => {
      for (const t of ['events', 'loads', 'user_day', 'sessions', 'quiz_first_starts', 'tile_state', 'user_day_assessments']) await engine.run(`DELETE FROM ${t}`);
      await addEvents(engine, first.map(toEv));
      const dates = ['2024-02-25', '2024-02-27', '2024-03-01'];
      await features(engine, dates, ['A', 'B', 'C']);
      await addEvents(engine, late.map(toEv));
      const incFeatures = await features(engine, dates, ['A', 'B', 'C']);
      await computeFeatures(engine, SPECS, { full: true });
      assert.deepEqual(await engine.all(`SELECT * EXCLUDE (course_id) FROM features ORDER BY user_id, cutoff`), incFeatures, 'late events: incremental features equal a full recompute');
      const r = await updateTiles(engine, { sessionGapMinutes: 30 });
      assert.equal(r.mode, 'unchanged');
      const inc = [await engine.all(`SELECT * FROM user_day ORDER BY ALL`), await engine.all(`SELECT * FROM sessions ORDER BY ALL`), await engine.all(`SELECT * FROM quiz_first_starts ORDER BY ALL`)];
      await updateTiles(engine, { sessionGapMinutes: 30, full: true });
      assert.deepEqual([await engine.all(`SELECT * FROM user_day ORDER BY ALL`), await engine.all(`SELECT * FROM sessions ORDER BY ALL`), await engine.all(`SELECT * FROM quiz_first_starts ORDER BY ALL`)], inc);
    }),
    { numRuns: 25, seed: 7 },
  );
  await engine.close();
});

test('incremental tiles read the event before the recomputed day only when it is within a gap', async () => {
  // A new event at 10:00 on Jan 2 recomputes Jan 2 from midnight. The old 00:05 event's session
  // attributes depend on the event before it: at 23:50 (within the gap: no new session, 15 minutes of
  // session time) or at 23:20 (45 minutes earlier: a session start).
  for (const before of ['2024-01-01 23:50:00', '2024-01-01 23:20:00']) {
    const engine = await memoryWarehouse();
    await addEvents(engine, [['A', '2024-01-01 08:00:00', 'view'], ['A', before, 'view'], ['A', '2024-01-02 00:05:00', 'quiz_start', 'q1']]);
    await updateTiles(engine, { sessionGapMinutes: 30 });
    await addEvents(engine, [['A', '2024-01-02 10:00:00', 'quiz_start', 'q1']]);
    assert.equal((await updateTiles(engine, { sessionGapMinutes: 30 })).mode, 'incremental');
    const tables = ['user_day', 'sessions', 'quiz_first_starts'];
    const inc = await Promise.all(tables.map((t) => engine.all(`SELECT * FROM ${t} ORDER BY ALL`)));
    const day2 = await engine.one(`SELECT sessions_started, session_seconds FROM user_day WHERE day = DATE '2024-01-02'`);
    assert.equal(Number(day2?.sessions_started), before.endsWith('23:50:00') ? 1 : 2);
    assert.equal(Number(day2?.session_seconds), before.endsWith('23:50:00') ? 15 * 60 : 0);
    await updateTiles(engine, { sessionGapMinutes: 30, full: true });
    assert.deepEqual(await Promise.all(tables.map((t) => engine.all(`SELECT * FROM ${t} ORDER BY ALL`))), inc, before);
    await engine.close();
  }
});

test('changing the session gap rebuilds the tiles', async () => {
  const engine = await memoryWarehouse();
  await addEvents(engine, [['A', '2024-01-01 10:00:00', 'view'], ['A', '2024-01-01 10:45:00', 'view']]);
  assert.equal((await updateTiles(engine, { sessionGapMinutes: 30 })).mode, 'full');
  assert.equal((await updateTiles(engine, { sessionGapMinutes: 30 })).mode, 'unchanged');
  assert.equal(Number((await engine.one<{ n: number }>(`SELECT sum(sessions_started) AS n FROM user_day`))?.n), 2);
  assert.equal((await updateTiles(engine, { sessionGapMinutes: 60 })).mode, 'full');
  assert.equal(Number((await engine.one<{ n: number }>(`SELECT sum(sessions_started) AS n FROM user_day`))?.n), 1);
  await engine.close();
});

test('the default feature set resolves', () => {
  assert.equal(resolveFeatures(DEFAULT_FEATURES as never).length, SPECS.length);
});

test('tiles count only the event types the features read; a feature reading another is refused until the tiles count it', async () => {
  const engine = await memoryWarehouse();
  try {
    await addEvents(engine, [['A', '2024-01-01 10:00:00', 'view'], ['A', '2024-01-01 10:05:00', 'quiz_start', 'q1'], ['A', '2024-01-02 09:00:00', 'login']]);
    await engine.run(`INSERT INTO users (user_id, source_ids, match_rule) VALUES ('A', [], 'unmatched')`);
    const quiz = resolveFeatures(['attempts_per_quiz']);
    assert.deepEqual(tileEventTypes(quiz), ['quiz_start']);
    assert.equal((await updateTiles(engine, { sessionGapMinutes: 30, eventTypes: tileEventTypes(quiz) })).mode, 'full');
    const day = await engine.one<Record<string, unknown>>(`SELECT n_quiz_start, n_view, n_login FROM user_day WHERE day = DATE '2024-01-01'`);
    assert.deepEqual(day, { n_quiz_start: 1, n_view: null, n_login: null }, 'uncounted types are NULL, not 0');
    await buildSpine(engine, spineAt('2024-01-03'), '2030-01-01');
    await computeFeatures(engine, quiz);
    assert.equal((await engine.one<{ a: number }>(`SELECT attempts_per_quiz AS a FROM features`))?.a, 1);

    const views = resolveFeatures([{ kind: 'event_type_count', event_type: 'view' }, 'last_login_gap']);
    await assert.rejects(computeFeatures(engine, views), (err: Error) => err instanceof FeatureConfigError && /do not count events of type login, view/.test(err.message));
    // Another list of types rebuilds the tiles (as a changed session gap does).
    assert.equal((await updateTiles(engine, { sessionGapMinutes: 30, eventTypes: tileEventTypes(views) })).mode, 'full');
    await computeFeatures(engine, views);
    assert.deepEqual(await engine.one(`SELECT events_view, last_login_gap_days FROM features`), { events_view: 1, last_login_gap_days: 1 });
    await assert.rejects(updateTiles(engine, { sessionGapMinutes: 30, eventTypes: ['viewed'] }), /unknown event types viewed/);
  } finally {
    await engine.close();
  }
});
