// Spine, labels and the training table on ClickHouse (chdb in-process, and a local ClickHouse server
// over HTTP) give the same rows as on DuckDB. Each warehouse is built on DuckDB with the test helpers,
// its source tables copied into ClickHouse, and both engines run the same stage code from there (tiles
// and features included).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../src/engine/engine.js';
import type { ClickHouseEngine } from '../src/engine/clickhouse.js';
import { buildSpine, computeFeatures } from '../src/features/compute.js';
import { updateTiles } from '../src/features/tiles.js';
import { resolveFeatures } from '../src/features/library.js';
import { computeLabel } from '../src/labels/labels.js';
import { buildTraining } from '../src/training/build.js';
import { writeModelingOutputs } from '../src/exports/outputs.js';
import { pipelineConfigSchema } from '../src/config/schema.js';
import { buildModelingTables } from '../src/modeling.js';
import { labelDefSchema, spineSchema, trainingSchema } from '../src/config/modeling.js';
import { addEvents, addHr, memoryWarehouse, type Ev } from './helpers/warehouse.js';
import { copyWarehouse } from '../src/engine/copy.js';
import { assertSameRows, tableRows } from './helpers/engines.js';
import { clickhouseTargets, type ClickHouseTarget } from './helpers/clickhouse-server.js';
import { tmpDir } from './helpers/tmp.js';

const TARGETS = clickhouseTargets();
const AS_OF = '2024-04-01';
const SPECS_INPUT = ['total_events', { kind: 'events', window_days: 7 }, 'recency', 'total_time', 'role_level'] as const;
const SPECS = resolveFeatures([...SPECS_INPUT]);

/** 30 learners with events on a regular pattern, enrolments (some withdrawn) and HR records (some leavers). */
async function duckWarehouse(): Promise<Engine> {
  const duck = await memoryWarehouse();
  const users = Array.from({ length: 30 }, (_, i) => `U${String(i).padStart(2, '0')}`);
  const ev: Ev[] = [];
  users.forEach((u, i) => {
    for (let d = 0; d < 90; d++) {
      if ((i + d) % (i % 3 === 0 ? 9 : 2) !== 0) continue;
      // Sub-second times on odd learners: window bounds must compare them the same way on both engines.
      const ts = new Date(Date.UTC(2024, 0, 1 + d, 10, 0, 0, i)).toISOString().slice(0, 23).replace('T', ' ') + (i % 2 ? '250' : '');
      ev.push([u, ts, d % 5 === 0 ? 'fail' : 'view', `o${d % 4}`, ((i * d) % 13) + 0.25]);
    }
  });
  await addEvents(duck, ev);
  for (const [i, u] of users.entries()) {
    await duck.run(`INSERT INTO users (user_id, source_ids, match_rule) VALUES ($1, [], 'unmatched')`, [u]);
    await duck.run(`INSERT INTO enrollments VALUES ($1, 'c1', CAST($2 AS TIMESTAMP), CAST($3 AS TIMESTAMP), CAST($4 AS TIMESTAMP), $5, 'test', 1)`, [
      u,
      `2024-01-0${1 + (i % 9)} 13:00:00.5`,
      // Due times end completion windows, and label ids hash window ends as text: some have a fraction.
      `2024-02-${10 + (i % 15)} 00:00:00${i % 2 ? '.25' : ''}`,
      i % 4 === 0 ? null : `2024-02-${String(5 + (i % 20)).padStart(2, '0')} 08:00:00`,
      i % 4 === 0 ? 'withdrawn' : 'completed',
    ]);
    const leaves = i % 5 === 0 ? `2024-02-0${1 + (i % 7)}` : null;
    await addHr(duck, [[u, '2023-01-01', leaves, 'active', `L${i % 3}`, null, '2023-01-01']]);
    if (leaves) await addHr(duck, [[u, leaves, null, 'terminated', `L${i % 3}`, null, '2023-01-01']]);
  }
  await updateTiles(duck, { sessionGapMinutes: 30 });
  return duck;
}

/** A ClickHouse warehouse (chdb or a server) holding the DuckDB warehouse's source tables, with its own tiles. */
async function clickhouseCopy(duck: Engine, target: ClickHouseTarget): Promise<ClickHouseEngine> {
  const ch = await target.open();
  await copyWarehouse(duck, ch, ['users', 'events', 'enrollments', 'hr_records', 'loads']);
  await updateTiles(ch, { sessionGapMinutes: 30 });
  return ch;
}

const SPINES = {
  dates: { dates: ['2024-01-15', '2024-01-29', '2024-02-12', '2024-02-26', '2024-03-11', '2024-05-01'], population: 'all_users' },
  every: { every: { days: 10, from: '2024-01-05', to: '2024-03-20' } },
  enrollment: { relative_to_enrollment: { days: [0, 7, 21], courses: ['c1'] } },
};

const LABELS = [
  { name: 'quiet', kind: 'inactivity', window_days: 5 },
  { name: 'fail', kind: 'event_within', event_type: 'fail', window_days: 10, object_ids: ['o0', 'o2'] },
  { name: 'left', kind: 'attrition', window_days: 20 },
  { name: 'done', kind: 'completion_by_due' },
  { name: 'withdrew', kind: 'source_outcome', positive_values: ['withdrawn'], time_column: 'due_at', window_days: 15 },
  // Windows ending after the computation date: censored rows.
  { name: 'fail_late', kind: 'event_within', event_type: 'fail', window_days: 60 },
];

for (const target of TARGETS) test(`${target.mode}: every spine kind gives the same spine as DuckDB`, { skip: target.skip }, async () => {
  const duck = await duckWarehouse();
  const ch = await clickhouseCopy(duck, target);
  try {
    for (const [kind, cfg] of Object.entries(SPINES)) {
      const spine = spineSchema.parse(cfg);
      const a = await buildSpine(duck, spine, AS_OF);
      const b = await buildSpine(ch, spine, AS_OF);
      assert.ok(a.rows > 0, kind);
      assert.deepEqual(b, a, `${kind}: summary`);
      assertSameRows(await tableRows(duck, 'spine'), await tableRows(ch, 'spine'), `${kind}: spine`);
    }
  } finally {
    await ch.close();
    await duck.close();
  }
});

for (const target of TARGETS) test(`${target.mode}: every label kind, censoring included, gives the same labels (and label ids) as DuckDB`, { skip: target.skip }, async () => {
  const duck = await duckWarehouse();
  const ch = await clickhouseCopy(duck, target);
  try {
    for (const [kind, cfg] of Object.entries(SPINES)) {
      const spine = spineSchema.parse(cfg);
      await buildSpine(duck, spine, AS_OF);
      await buildSpine(ch, spine, AS_OF);
      for (const l of LABELS) {
        const def = labelDefSchema.parse(l);
        const a = await computeLabel(duck, def, '2024-03-01');
        const b = await computeLabel(ch, def, '2024-03-01');
        assert.deepEqual(b, a, `${kind} ${l.name}: summary`);
      }
      const rows = await tableRows(duck, 'labels');
      assert.ok(rows.some((r) => r.censored === true) && rows.some((r) => r.label_value === 1), `${kind}: censored and positive rows`);
      assertSameRows(rows, await tableRows(ch, 'labels'), `${kind}: labels`);
    }
    // Re-running the same as-of rewrites the same rows.
    await computeLabel(ch, labelDefSchema.parse(LABELS[0]), '2024-03-01');
    assertSameRows(await tableRows(duck, 'labels'), await tableRows(ch, 'labels'), 'labels after a re-run');
  } finally {
    await ch.close();
    await duck.close();
  }
});

for (const target of TARGETS) test(`${target.mode}: the training table (splits, sample weights, sampling, sensitive columns) matches DuckDB`, { skip: target.skip }, async () => {
  const duck = await duckWarehouse();
  const ch = await clickhouseCopy(duck, target);
  try {
    const cases: Array<{ spine: keyof typeof SPINES; label: string; training: Record<string, unknown> }> = [
      { spine: 'dates', label: 'quiet', training: { imbalance: { method: 'class_weight' } } },
      { spine: 'dates', label: 'quiet', training: { imbalance: { method: 'smote', seed: 3 }, allow_sensitive: ['performance_rating', 'salary_band'] } },
      { spine: 'dates', label: 'quiet', training: { imbalance: { method: 'oversample', seed: 5 }, split: { group_safe: false } } },
      { spine: 'every', label: 'fail', training: { imbalance: { method: 'undersample', seed: 7 }, split: { validation_from: '2024-02-10', test_from: '2024-03-01' } } },
      { spine: 'enrollment', label: 'done', training: { imbalance: { method: 'none' } } },
    ];
    let spineKind = '';
    for (const c of cases) {
      const what = `${c.spine} ${c.label} ${JSON.stringify(c.training)}`;
      if (c.spine !== spineKind) {
        spineKind = c.spine;
        await buildSpine(duck, spineSchema.parse(SPINES[c.spine]), AS_OF);
        await buildSpine(ch, spineSchema.parse(SPINES[c.spine]), AS_OF);
        for (const e of [duck, ch]) await computeFeatures(e, SPECS, { full: true });
      }
      const def = labelDefSchema.parse(LABELS.find((l) => l.name === c.label));
      const la = await computeLabel(duck, def, '2024-03-01');
      const lb = await computeLabel(ch, def, '2024-03-01');
      const cfg = trainingSchema.parse({ label: c.label, ...c.training });
      const a = await buildTraining(duck, cfg, SPECS, la, '2024-03-01');
      const b = await buildTraining(ch, cfg, SPECS, lb, '2024-03-01');
      assert.ok(a.rows > 0, what);
      assert.deepEqual(b, a, `${what}: summary`);
      const rows = await duck.all(`SELECT * FROM training`);
      assertSameRows(rows, await ch.all(`SELECT * FROM training`), `${what}: training`);
      if (c.training.imbalance && (c.training.imbalance as { method: string }).method === 'class_weight') {
        assert.ok(rows.some((r) => r.split === 'train' && r.sample_weight !== 1), `${what}: weighted`);
      }
    }
  } finally {
    await ch.close();
    await duck.close();
  }
});

for (const target of TARGETS) test(`${target.mode}: the modelling stages end to end, and their published files (byte-identical run to run)`, { skip: target.skip }, async () => {
  const duck = await duckWarehouse();
  const ch = await clickhouseCopy(duck, target);
  try {
    const config = pipelineConfigSchema.parse({
      features: { definitions: SPECS_INPUT },
      spine: SPINES.every,
      labels: [LABELS[0], LABELS[2], LABELS[5]],
      training: { label: 'quiet', imbalance: { method: 'smote' }, csv: true },
    });
    const a = (await buildModelingTables(duck, config, AS_OF))!;
    const b = (await buildModelingTables(ch, config, AS_OF))!;
    const withoutTimings = (m: typeof a) => ({ ...m.summary, timings: null });
    assert.deepEqual(withoutTimings(b), withoutTimings(a), 'stage summaries');
    for (const t of ['spine', 'labels']) assertSameRows(await tableRows(duck, t), await tableRows(ch, t), t);
    const own = await duck.all(`SELECT * FROM training`);
    assert.ok(own.some((r) => r.synthetic === true), 'SMOTE rows');
    assertSameRows(own, await ch.all(`SELECT * FROM training`), 'training');

    const ctx = { asOf: AS_OF, specs: b.specs, labels: b.summary.labels, training: b.summary.training };
    const runs = [tmpDir('learnpipe-out-'), tmpDir('learnpipe-out-')];
    const files = await writeModelingOutputs(ch, config, runs[0], ctx);
    await writeModelingOutputs(ch, config, runs[1], ctx);
    for (const f of files) assert.ok(readFileSync(f).equals(readFileSync(path.join(runs[1], path.relative(runs[0], f)))), `${path.basename(f)}: same bytes`);
    // Read back with DuckDB, in file order: the rows and their order are DuckDB's own.
    const read = (name: string) => duck.all(`SELECT * FROM read_parquet(${duck.dialect.quoteString(path.join(runs[0], name))})`);
    const training = await read('training.parquet');
    assert.deepEqual(training.map((r) => r.row_id), own.map((r) => r.row_id), 'row order');
    assertSameRows(own, training, 'training.parquet');
    assertSameRows(await tableRows(duck, 'labels'), await read('labels.parquet'), 'labels.parquet');
    // (ClickHouse quotes every CSV string, DuckDB only where needed: the files differ across engines.)
    assert.equal(readFileSync(path.join(runs[0], 'training.csv'), 'utf8').split('\n')[0].replaceAll('"', ''), ctx.training!.columns.join(','));
  } finally {
    await ch.close();
    await duck.close();
  }
});
