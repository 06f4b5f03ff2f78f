// Debezium change events (the Postgres connector's envelope), one per line: snapshot reads, inserts,
// updates and deletes applied to the canonical table; bad lines become rejects naming file:line; a
// file loads once; replayed events (at or before the last applied LSN) apply nothing twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { openProject, writeProject } from './helpers/ingest-fixture.js';
import type { Engine } from '../src/engine/engine.js';

const T = 1_714_608_000;
const CONFIG = `warehouse: wh.duckdb
sources:
  - name: dbz_grades
    kind: debezium
    path: changes/*.jsonl
    table: public.mdl_grade_grades
    target: assessments
    fields:
      assessment_id: id
      user: { column: userid, kind: moodle_id }
      object: { id_column: itemid, namespace: moodle_grade_item }
      score: finalgrade
      max_score: rawgrademax
      submitted_at: { column: timemodified, format: epoch_s }
`;

const grade = (id: number, userid: number, finalgrade: number | string, t = T) => ({ id, itemid: 1, userid, rawgrademax: 10.0, finalgrade, timemodified: t });
/** An envelope as the Debezium Postgres connector writes it (with its schema wrapper when `wrapped`). */
function envelope(op: string, before: object | null, after: object | null, lsn: number, opts: { table?: string; wrapped?: boolean } = {}) {
  const payload = {
    before,
    after,
    source: { version: '2.7.0.Final', connector: 'postgresql', name: 'moodle', ts_ms: 1714608000000 + lsn, snapshot: op === 'r' ? 'true' : 'false', db: 'moodle', sequence: `[null,"${lsn}"]`, schema: 'public', table: opts.table ?? 'mdl_grade_grades', txId: 700 + lsn, lsn, xmin: null },
    op,
    ts_ms: 1714608000000 + lsn,
    transaction: null,
  };
  return JSON.stringify(opts.wrapped ? { schema: { type: 'struct', name: 'moodle.public.mdl_grade_grades.Envelope' }, payload } : payload);
}

async function grades(engine: Engine) {
  return (await engine.all<{ assessment_id: string; score: number }>(`SELECT assessment_id, score FROM assessments ORDER BY assessment_id`)).map((r) => [r.assessment_id, Number(r.score)]);
}

test('Debezium change files: snapshot, inserts, updates, deletes; bad lines rejected; replays apply nothing twice', async () => {
  const lines1 = [
    envelope('r', null, grade(1, 11, 5), 1000, { wrapped: true }),
    envelope('r', null, grade(2, 12, 6), 1000, { wrapped: true }),
    envelope('r', null, grade(3, 13, 7), 1000),
    envelope('c', null, grade(4, 14, 8), 2000),
    envelope('u', grade(2, 12, 6), grade(2, 12, 9.5, T + 60), 2100),
    envelope('d', grade(3, 13, 7), null, 2200),
    '{"payload": ',
    'null',
    envelope('c', null, { id: 1, username: 'x' }, 2300, { table: 'mdl_user' }),
    envelope('c', null, grade(5, 15, 42), 2400), // above the maximum of 10
  ];
  const dir = writeProject({ 'pipeline.yaml': CONFIG, 'changes/001.jsonl': lines1.join('\n') + '\n' });
  const p = await openProject(dir);
  const s1 = await p.run();
  assert.deepEqual(await grades(p.engine), [['dbz_grades:1', 5], ['dbz_grades:2', 9.5], ['dbz_grades:4', 8]]);
  const rejects = await p.engine.all<{ location: string; reason: string }>(`SELECT location, reason FROM rejects ORDER BY location`);
  assert.deepEqual(rejects.map((r) => [r.location, r.reason]), [
    ['changes/001.jsonl:10', 'score_out_of_range'],
    ['changes/001.jsonl:7', 'malformed_line'],
  ]);
  assert.ok(s1.totals.reconciled);
  assert.equal(s1.totals.rejected, 2);
  assert.equal((await p.engine.one<{ position: string }>(`SELECT position FROM source_positions WHERE source = 'dbz_grades'`))!.position, '2400');

  // The same file again: skipped.
  const s2 = await p.run();
  assert.equal(s2.totals.files_loaded, 0);

  // Kafka delivered some events twice: the replays (LSN ≤ 2400) are skipped, the new ones applied.
  const lines2 = [
    envelope('u', grade(2, 12, 6), grade(2, 12, 9.5, T + 60), 2100),
    envelope('d', grade(3, 13, 7), null, 2200),
    envelope('c', null, grade(3, 13, 7), 2250), // a replayed insert of a deleted row must not come back
    envelope('u', grade(4, 14, 8), grade(4, 14, 3, T + 120), 3000),
    envelope('d', grade(1, 11, 5), null, 3100),
  ];
  writeFileSync(`${dir}/changes/002.jsonl`, lines2.join('\n') + '\n');
  await p.run();
  assert.deepEqual(await grades(p.engine), [['dbz_grades:2', 9.5], ['dbz_grades:4', 3]]);
  await p.engine.close();
});

test('netChanges: a sequence of row changes folds into the rows to remove and the rows to load', async () => {
  const { netChanges } = await import('../src/sources/postgres/cdc.js');
  const ch = (op: 'upsert' | 'delete', id: string, v: string) => ({ op, row: { id, v }, name: `t:id=${id}` });
  const folded = netChanges(
    [
      ch('upsert', '1', 'a'), // inserted, then updated, then deleted: nothing
      ch('delete', '1', 'a'),
      ch('upsert', '1', 'b'),
      ch('delete', '1', 'b'),
      ch('delete', '2', 'old'), // existed: remove the old image, load the last one
      ch('upsert', '2', 'new'),
      ch('delete', '2', 'new'),
      ch('upsert', '2', 'newer'),
      ch('delete', '3', 'gone'), // existed, deleted
      ch('upsert', '4', 'x'), // inserted
    ],
    'id',
  );
  assert.deepEqual(folded.map((c) => [c.op, c.row.id, c.row.v]), [
    ['delete', '2', 'old'],
    ['delete', '3', 'gone'],
    ['upsert', '2', 'newer'],
    ['upsert', '4', 'x'],
  ]);
  // Rows without the key column are left as they are (applied one run at a time).
  const noKey = [ch('upsert', '1', 'a')].map((c) => ({ ...c, row: { v: c.row.v } }));
  assert.deepEqual(netChanges(noKey, 'id'), noKey);
});
