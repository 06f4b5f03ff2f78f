import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeLabel, definitionHash } from '../src/labels/labels.js';
import { buildSpine, computeFeatures } from '../src/features/compute.js';
import { updateTiles } from '../src/features/tiles.js';
import { resolveFeatures } from '../src/features/library.js';
import { labelDefSchema, spineSchema, trainingSchema } from '../src/config/modeling.js';
import { buildTraining } from '../src/training/build.js';
import type { Engine } from '../src/engine/engine.js';
import { addEvents, addHr, memoryWarehouse } from './helpers/warehouse.js';

const FAIL_30 = labelDefSchema.parse({ name: 'fail_30d', kind: 'event_within', event_type: 'fail', window_days: 30 });

async function spineFor(engine: Engine, users: string[], dates: string[], asOf: string) {
  await engine.run(`DELETE FROM users`);
  for (const u of users) await engine.run(`INSERT INTO users (user_id, source_ids, match_rule) VALUES ($1, [], 'unmatched')`, [u]);
  await updateTiles(engine, { sessionGapMinutes: 30 });
  await buildSpine(engine, spineSchema.parse({ dates, population: 'all_users' }), asOf);
}

const labelRows = (engine: Engine, hash?: string) =>
  engine.all(`SELECT label_id, label_name, definition_hash, user_id, label_value, censored, CAST(label_window_start AS VARCHAR) AS ws, CAST(label_window_end AS VARCHAR) AS we, computation_date FROM labels ${hash ? `WHERE definition_hash = '${hash}'` : ''} ORDER BY ALL`);

test('a label reads only (t, t + window]; unobserved windows are censored; re-runs change nothing', async () => {
  const engine = await memoryWarehouse();
  await addEvents(engine, [
    ['A', '2024-01-01 00:00:00', 'fail'], // exactly at the cutoff: not in the window
    ['B', '2024-01-31 00:00:00', 'fail'], // exactly at cutoff + 30 days: in the window
    ['C', '2024-01-31 00:00:01', 'fail'], // just after: not in the window
    ['D', '2023-12-31 12:00:00', 'fail'], // before the cutoff
  ]);
  await spineFor(engine, ['A', 'B', 'C', 'D'], ['2024-01-01', '2024-02-15'], '2024-03-01');
  const s = await computeLabel(engine, FAIL_30, '2024-03-01');
  const rows = await labelRows(engine);
  const at = (u: string, ws: string) => rows.find((r) => r.user_id === u && String(r.ws).startsWith(ws))!;
  assert.equal(at('A', '2024-01-01').label_value, 0);
  assert.equal(at('B', '2024-01-01').label_value, 1);
  assert.equal(at('C', '2024-01-01').label_value, 0);
  assert.equal(at('D', '2024-01-01').label_value, 0);
  // 2024-02-15 + 30 days ends after the as-of: censored, no value.
  assert.equal(at('A', '2024-02-15').censored, true);
  assert.equal(at('A', '2024-02-15').label_value, null);
  assert.deepEqual({ positives: s.positives, negatives: s.negatives, censored: s.censored }, { positives: 1, negatives: 3, censored: 4 });
  assert.equal(at('B', '2024-01-01').computation_date, '2024-03-01');
  assert.equal(at('B', '2024-01-01').we, '2024-01-31 00:00:00');

  // Idempotent: the same as-of gives the same rows.
  await computeLabel(engine, FAIL_30, '2024-03-01');
  assert.deepEqual(await labelRows(engine), rows);
  // A changed definition: a new hash and new rows; the old ones stay for audit.
  const changed = labelDefSchema.parse({ ...FAIL_30, window_days: 45 });
  assert.notEqual(definitionHash(changed), definitionHash(FAIL_30));
  assert.equal(definitionHash(labelDefSchema.parse({ ...FAIL_30, description: 'words only' })), definitionHash(FAIL_30));
  await computeLabel(engine, changed, '2024-03-01');
  assert.deepEqual(await labelRows(engine, definitionHash(FAIL_30)), rows);
  assert.equal((await labelRows(engine, definitionHash(changed))).length, 8);
  // label_id is deterministic: same definition, user and window → same id.
  assert.equal(new Set(rows.map((r) => r.label_id)).size, rows.length);
  await engine.close();
});

test('attrition: leavers within the window are positive, people who already left are not at risk', async () => {
  const engine = await memoryWarehouse();
  await addHr(engine, [
    ['A', '2023-01-01', '2024-01-20', 'active', 'L1', null, '2023-01-01'],
    ['A', '2024-01-20', null, 'terminated', 'L1', null, '2023-01-01'],
    ['B', '2023-01-01', null, 'active', 'L1', null, '2023-01-01'],
    ['C', '2023-01-01', '2023-12-01', 'active', 'L1', null, '2023-01-01'],
    ['C', '2023-12-01', null, 'terminated', 'L1', null, '2023-01-01'],
  ]);
  await spineFor(engine, ['A', 'B', 'C'], ['2024-01-01'], '2024-06-01');
  const s = await computeLabel(engine, labelDefSchema.parse({ name: 'left', kind: 'attrition', window_days: 30 }), '2024-06-01');
  const rows = await labelRows(engine);
  assert.deepEqual(rows.map((r) => [r.user_id, r.label_value]), [['A', 1], ['B', 0]]);
  assert.equal(s.not_at_risk, 1);
  await engine.close();
});

test('inactivity labels and the training table: splits are time-based and group-safe, sampling is deterministic', async () => {
  const engine = await memoryWarehouse();
  const users = Array.from({ length: 60 }, (_, i) => `U${String(i).padStart(2, '0')}`);
  const ev: Array<[string, string, string]> = [];
  users.forEach((u, i) => {
    for (let d = 0; d < 90; d++) if ((i + d) % (i % 3 === 0 ? 9 : 2) === 0) ev.push([u, new Date(Date.UTC(2024, 0, 1 + d, 10)).toISOString().slice(0, 19).replace('T', ' '), i % 3 === 0 && d > 40 ? 'view' : 'view']);
  });
  await addEvents(engine, ev);
  const dates = ['2024-01-15', '2024-01-29', '2024-02-12', '2024-02-26', '2024-03-11'];
  await spineFor(engine, users, dates, '2024-04-01');
  const specs = resolveFeatures(['total_events', { kind: 'events', window_days: 7 }, 'recency']);
  await computeFeatures(engine, specs);
  const def = labelDefSchema.parse({ name: 'quiet', kind: 'inactivity', window_days: 5 });
  const l = await computeLabel(engine, def, '2024-04-01');
  assert.ok(l.positives > 0 && l.negatives > 0, JSON.stringify(l));

  const run = async (method: string, seed = 1) => {
    const cfg = trainingSchema.parse({ label: 'quiet', imbalance: { method, seed } });
    const s = await buildTraining(engine, cfg, specs, l, '2024-04-01');
    return { s, rows: await engine.all(`SELECT * FROM training`) };
  };
  const a = await run('smote');
  const b = await run('smote');
  assert.deepEqual(b.rows, a.rows, 'same seed, same rows');
  assert.notDeepEqual((await run('smote', 2)).rows, a.rows, 'another seed, other synthetic rows');
  // No learner in two splits; splits follow cutoff time.
  const splitsOf = new Map<string, Set<string>>();
  for (const r of a.rows) splitsOf.set(String(r.user_id), (splitsOf.get(String(r.user_id)) ?? new Set()).add(String(r.split)));
  assert.ok([...splitsOf.values()].every((s) => s.size === 1));
  const maxTrain = Math.max(...a.rows.filter((r) => r.split === 'train').map((r) => +(r.cutoff as Date)));
  const minTest = Math.min(...a.rows.filter((r) => r.split === 'test').map((r) => +(r.cutoff as Date)));
  assert.ok(maxTrain < minTest);
  // SMOTE balances the train split only and marks its rows.
  const train = a.s.balance.find((x) => x.split === 'train')!;
  assert.equal(train.after.positives, train.after.negatives);
  assert.ok(a.rows.some((r) => r.synthetic === true && r.split === 'train'));
  assert.ok(a.rows.every((r) => r.split === 'train' || r.synthetic === false));
  // Balanced class weights: each class carries half the train weight.
  const w = await run('class_weight');
  const tw = w.rows.filter((r) => r.split === 'train');
  const sum = (v: number) => tw.filter((r) => r.label === v).reduce((s, r) => s + Number(r.sample_weight), 0);
  assert.ok(Math.abs(sum(1) - sum(0)) < 1e-9);
  // Plain time split when group safety is off: every learner may appear in every split.
  const plain = await buildTraining(engine, trainingSchema.parse({ label: 'quiet', split: { group_safe: false } }), specs, l, '2024-04-01');
  assert.equal(plain.purged_rows, 0);
  await engine.close();
});
