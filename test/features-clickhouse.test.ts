// The features stage on ClickHouse (chdb in-process, and a local ClickHouse server over HTTP) gives the
// same tiles and features as on DuckDB: the same warehouse is built in DuckDB, its canonical tables are
// copied into ClickHouse, and both engines run updateTiles, buildSpine and computeFeatures (full, then
// incremental after a second load with late events).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { updateTiles } from '../src/features/tiles.js';
import { buildSpine, computeFeatures } from '../src/features/compute.js';
import { resolveFeatures } from '../src/features/library.js';
import { featuresSchema, spineSchema } from '../src/config/modeling.js';
import type { Engine } from '../src/engine/engine.js';
import type { ClickHouseEngine } from '../src/engine/clickhouse.js';
import { addAssessments, addEvents, addHr, memoryWarehouse, type Ev } from './helpers/warehouse.js';
import { copyWarehouse } from '../src/engine/copy.js';
import { assertSameRows, tableRows } from './helpers/engines.js';
import { clickhouseTargets } from './helpers/clickhouse-server.js';

const TARGETS = clickhouseTargets();
const SPECS = resolveFeatures(featuresSchema.parse({}).definitions);
const SOURCES = ['events', 'loads', 'assessments', 'hr_records', 'users'];
const TILES = ['user_day', 'sessions', 'quiz_first_starts', 'user_day_assessments'];

async function addUsers(engine: Engine, users: string[]): Promise<void> {
  for (const u of users) await engine.run(`INSERT INTO users (user_id, source_ids, match_rule) VALUES ($1, [], 'unmatched')`, [u]);
}

/**
 * Runs tiles, spine and features on DuckDB, copies the source tables into ClickHouse, runs the same
 * there, and compares every tile table, the spine and the features.
 */
async function runBoth(duck: Engine, ch: ClickHouseEngine, dates: string[], expectMode: 'full' | 'incremental'): Promise<void> {
  const spine = spineSchema.parse({ dates, population: 'all_users' });
  const tiles = await updateTiles(duck, { sessionGapMinutes: 30 });
  await buildSpine(duck, spine, '2030-01-01');
  const features = await computeFeatures(duck, SPECS);
  await copyWarehouse(duck, ch, SOURCES);
  const chTiles = await updateTiles(ch, { sessionGapMinutes: 30 });
  await buildSpine(ch, spine, '2030-01-01');
  const chFeatures = await computeFeatures(ch, SPECS);
  assertSameRows(await tableRows(duck, 'spine'), await tableRows(ch, 'spine'), 'spine');
  assert.equal(tiles.mode, expectMode);
  assert.deepEqual(chTiles, tiles, 'tile update summary');
  assert.deepEqual(chFeatures, features, 'feature update summary');
  for (const t of TILES) assertSameRows(await tableRows(duck, t), await tableRows(ch, t), t);
  assertSameRows(await featureRows(duck), await featureRows(ch), 'features');
}

const featureRows = (e: Engine) => e.all(`SELECT ${e.dialect.toText('cutoff')} AS cutoff_text, * FROM features`);

for (const target of TARGETS) test(`${target.mode}: every default feature, tiles and sessions equal DuckDB’s`, { skip: target.skip }, async () => {
  const duck = await memoryWarehouse();
  const ch = await target.open();
  try {
    await addEvents(duck, [
      ['A', '2024-01-01 10:00:00', 'view', 'c1', 60],
      ['A', '2024-01-01 10:20:00.250001', 'quiz_start', 'q1'],
      ['A', '2024-01-01 11:30:00', 'view', 'c1', 30.5], // 70 minutes later: a new session
      ['A', '2024-01-01 23:50:00', 'login'], // a session across midnight
      ['A', '2024-01-02 00:10:00', 'view', 'c2', -0.0],
      ['A', '2024-01-05 09:00:00', 'quiz_start', 'q1'],
      ['A', '2024-01-05 09:10:00', 'quiz_start', 'q2'],
      ['A', '2024-01-09 23:59:59.999999', 'login'],
      ['A', '2024-01-10 00:00:00', 'view', 'c1', 999], // at the cutoff: not seen
      ['B', '2024-01-02 08:00:00', 'view', 'c1', 5],
      ['B', '2024-01-02 08:00:00', 'submit', 'c1', 0.1], // same instant
      ['B', '2023-12-20 08:00:00', 'forum_post', null, 2.25],
      // Day sums are added up to the nanosecond: rounded, not truncated (5 days: 5 ns apart).
      ...[1, 2, 3, 4, 5].map((day): Ev => ['F', `2024-01-0${day} 08:00:00`, 'view', 'c1', 0.1234567895]),
    ]);
    await addAssessments(duck, [
      ['A', '2024-01-04 12:00:00', 8, 10, true],
      ['A', '2024-01-06 12:00:00', 4, 10, false],
      ['A', '2024-01-11 12:00:00', 10, 10, true], // after the last cutoff
      ['B', '2024-01-03 12:00:00', 3, 0, false], // no positive maximum: not scored
    ]);
    await addHr(duck, [
      ['A', '2023-01-01', '2024-01-08', 'active', 'L1', 'M', '2023-01-01'],
      ['A', '2024-01-08', null, 'active', 'L2', 'M', '2023-01-01'],
      ['B', '2023-06-01', null, 'active', 'L1', 'M', '2023-06-01'],
      ['C', '2023-06-01', '2024-01-03', 'active', 'L1', 'M', '2023-06-01'],
      ['C', '2024-01-03', null, 'terminated', 'L1', 'M', '2023-06-01'],
    ]);
    await addUsers(duck, ['A', 'B', 'C', 'F', 'Z']); // Z: no history at all
    await runBoth(duck, ch, ['2024-01-02', '2024-01-06', '2024-01-10'], 'full');
    // (Hand-checked, so that agreement is not agreement on empty or NULL results.)
    const a = await ch.one<Record<string, unknown>>(`SELECT total_events, sessions, attempts_per_quiz, trend_7d, tenure_days, manager_team_size, role_level FROM features WHERE user_id = 'A' AND cutoff = '2024-01-10 00:00:00'`);
    assert.deepEqual(a, { total_events: 8, sessions: 5, attempts_per_quiz: 1.5, trend_7d: -0.25, tenure_days: 374, manager_team_size: 2, role_level: 'L2' });
  } finally {
    await ch.close();
    await duck.close();
  }
});

// A small deterministic generator (a linear congruential sequence), so the data are the same every run.
function generator(seed: number) {
  let x = seed;
  const next = () => ((x = (x * 1103515245 + 12345) % 2 ** 31), x / 2 ** 31);
  return (n: number, from: number, days: number): Ev[] =>
    Array.from({ length: n }, () => {
      const user = ['A', 'B', 'C', 'D'][Math.floor(next() * 4)];
      // Bunched within hours, so that sessions form, split and cross midnight.
      const t = from + Math.floor(next() * days) * 86_400_000 + Math.floor(next() * 6) * 3_600_000 + 21 * 3_600_000 + Math.floor(next() * 3_600_000_000) / 1000;
      const ts = new Date(Math.floor(t)).toISOString().replace('T', ' ').replace('Z', '') + String(Math.floor((t % 1) * 1000)).padStart(3, '0');
      const type = ['view', 'quiz_start', 'login', 'submit', 'video_play', 'forum_post'][Math.floor(next() * 6)];
      const object = next() < 0.8 ? ['q1', 'q2', 'q3'][Math.floor(next() * 3)] : null;
      const duration = next() < 0.7 ? Math.round(next() * 600_000) / 1000 : null;
      return [user, ts, type, object, duration];
    });
}

for (const target of TARGETS) test(`${target.mode}: incremental tiles and features after a second load with late events equal DuckDB’s`, { skip: target.skip }, async () => {
  const duck = await memoryWarehouse();
  const ch = await target.open();
  try {
    const gen = generator(42);
    const day0 = Date.UTC(2024, 2, 1);
    const dates = ['2024-03-08', '2024-03-15', '2024-03-22', '2024-03-29'];
    await addEvents(duck, [
      ...gen(300, day0, 20),
      // The event before the recomputed day within a gap of it (see features.test.ts).
      ['E', '2024-03-10 08:00:00', 'view'],
      ['E', '2024-03-10 23:50:00', 'view'],
      ['E', '2024-03-11 00:05:00', 'quiz_start', 'q1'],
    ]);
    await addAssessments(duck, [
      ['A', '2024-03-03 10:00:00', 7, 10, true],
      ['B', '2024-03-12 10:00:00', 2, 10, false],
    ]);
    await addHr(duck, [
      ['A', '2024-01-01', null, 'active', 'L1', 'M', '2020-02-29'],
      ['B', '2024-03-10', null, 'leave', 'L3', 'M', '2021-01-01'],
    ]);
    await addUsers(duck, ['A', 'B', 'C', 'D', 'E']);
    await runBoth(duck, ch, dates, 'full');

    // Second load: late events all over the first load's range, new days after it, and new assessments.
    await addEvents(duck, [...gen(60, day0, 20), ...gen(60, day0 + 20 * 86_400_000, 10), ['E', '2024-03-11 10:00:00', 'quiz_start', 'q1']]);
    await addAssessments(duck, [
      ['A', '2024-03-02 10:00:00', 9, 10, true], // late
      ['C', '2024-03-25 10:00:00', 5, 10, true],
    ]);
    await runBoth(duck, ch, dates, 'incremental');
    assert.equal((await updateTiles(ch, { sessionGapMinutes: 30 })).mode, 'unchanged');
    // A load of assessments only: no new events (aggregates over no rows are NULL on both engines).
    await addAssessments(duck, [['D', '2024-03-20 10:00:00', 1, 4, false]]);
    await runBoth(duck, ch, dates, 'incremental');
    // Rebuilt from scratch on ClickHouse (tiles emptied, features table replaced): still the same rows.
    await updateTiles(ch, { sessionGapMinutes: 30, full: true });
    await computeFeatures(ch, SPECS, { full: true });
    for (const t of TILES) assertSameRows(await tableRows(duck, t), await tableRows(ch, t), `${t} after a full rebuild`);
    assertSameRows(await featureRows(duck), await featureRows(ch), 'features after a full recompute');
  } finally {
    await ch.close();
    await duck.close();
  }
});

for (const target of TARGETS) test(`${target.mode}: an empty spine and a warehouse without events give the same (empty) results`, { skip: target.skip }, async () => {
  const duck = await memoryWarehouse();
  const ch = await target.open();
  try {
    await addEvents(duck, []);
    await runBoth(duck, ch, ['2024-01-10'], 'full');
    await addUsers(duck, ['A']);
    await addAssessments(duck, [['A', '2024-01-02 10:00:00', 1, 2, true]]);
    await runBoth(duck, ch, ['2024-01-10'], 'incremental');
  } finally {
    await ch.close();
    await duck.close();
  }
});
