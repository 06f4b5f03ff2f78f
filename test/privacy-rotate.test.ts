import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import type { Engine } from '../src/engine/engine.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { ALL_TABLES } from '../src/schema/canonical.js';
import { Pseudonymizer } from '../src/privacy/pseudonym.js';
import { Vault } from '../src/privacy/vault.js';
import { rotatePseudonyms, pseudonymKeyId, warehouseKeyId, checkWarehouseKey, RotationError } from '../src/privacy/rotate.js';
import { tmpDir, TEST_KEY_HEX } from './helpers/tmp.js';

const OLD = new Pseudonymizer(Buffer.from(TEST_KEY_HEX, 'hex'));
const NEW = new Pseudonymizer(Buffer.from('3'.repeat(64), 'hex'));
const VAULT_KEY = Buffer.from('4'.repeat(64), 'hex');

const PEOPLE = [
  { emp: 'E1', email: 'ann@corp.test', moodle: 'm-100' },
  { emp: 'E2', email: 'ben@corp.test', moodle: 'm-200' },
  { emp: 'E3', email: 'cat@corp.test', moodle: null },
];

/** A tiny warehouse as the load path would leave it, and a vault holding each person's identifiers. */
async function setup(dir: string, pz = OLD) {
  const e = await DuckDBEngine.open(path.join(dir, 'w.duckdb'));
  await ensureWarehouse(e);
  const vault = Vault.open(path.join(dir, 'vault.bin'), VAULT_KEY);
  for (const p of PEOPLE) {
    const uid = pz.of('employee_id', p.emp)!;
    const keys: Array<[string, string]> = [['employee_id', p.emp], ['email', p.email]];
    if (p.moodle) keys.push(['moodle_id', p.moodle]);
    for (const [kind, raw] of keys) {
      await e.run(`INSERT INTO identity_map VALUES ($1, $2, $3, 'employee_id', ['hris'])`, [kind, pz.of(kind, raw)!, uid]);
    }
    await e.run(`INSERT INTO identity_links VALUES ('hris', 'employee_id', $1, $1, $2)`, [uid, pz.of('email', p.email)!]);
    const sourceIds = keys.map(([k, r]) => `${k}:${pz.of(k, r)}`).sort();
    await e.run(`INSERT INTO users VALUES ($1, ${'$2'}::VARCHAR[], 'employee_id', NULL, 'active', 'L2', $3, 'Sales')`, [uid, `[${sourceIds.map((s) => `'${s}'`).join(',')}]`, pz.of('employee_id', 'E1')!]);
    await e.run(`INSERT INTO hr_records VALUES ($1, DATE '2024-01-01', NULL, 'active', 'L2', $2, 'Sales', NULL, 'meets', 'B', 'hris', 1)`, [uid, pz.of('employee_id', 'E1')!]);
    for (let i = 0; i < 3; i++) {
      await e.run(`INSERT INTO events VALUES ($1, $2, 'view', 'o1', 'c1', TIMESTAMP '2024-01-02 10:00:00', 0, 5, 'lms', 1)`, [`lms:${p.emp}:${i}`, uid]);
    }
    await e.run(`INSERT INTO learner_keys VALUES ($1, (SELECT count(*) + 1 FROM learner_keys))`, [uid]);
    await e.run(`INSERT INTO user_day (uid, day, events, duration_seconds, first_ts, last_ts, sessions_started, session_seconds, new_quiz_objects,
      n_login, n_view, n_video_play, n_submit, n_pass, n_fail, n_quiz_start, n_answer, n_comment, n_forum_post, n_complete, n_enroll, n_unenroll, n_attend)
      VALUES ((SELECT uid FROM learner_keys WHERE user_id = $1), DATE '2024-01-02', 3, 15, TIMESTAMP '2024-01-02 10:00:00', TIMESTAMP '2024-01-02 10:00:00', 1, 0, 0, 0,3,0,0,0,0,0,0,0,0,0,0,0,0)`, [uid]);
    vault.put(uid, 'hris', { full_name: `Name ${p.emp}` }, Object.fromEntries(keys), 'employee_id');
  }
  vault.save();
  return { e, vault };
}

/** Every value of every pseudonym column (list elements reduced to the part after the last ':'). */
async function allPseudonyms(e: Engine): Promise<Set<string>> {
  const out = new Set<string>();
  for (const t of ALL_TABLES) {
    for (const c of t.columns) {
      if (c.sensitivity !== 'pseudonym') continue;
      const rows = c.type === 'varchar[]'
        ? await e.all<{ v: string }>(`SELECT regexp_extract(unnest("${c.name}"), '[^:]*$', 0) AS v FROM "${t.name}"`)
        : await e.all<{ v: string }>(`SELECT "${c.name}" AS v FROM "${t.name}" WHERE "${c.name}" IS NOT NULL`);
      for (const r of rows) out.add(r.v);
    }
  }
  return out;
}

function expected(pz: Pseudonymizer): Set<string> {
  const s = new Set<string>();
  for (const p of PEOPLE) {
    s.add(pz.of('employee_id', p.emp)!);
    s.add(pz.of('email', p.email)!);
    if (p.moodle) s.add(pz.of('moodle_id', p.moodle)!);
  }
  return s;
}

test('rotate: every pseudonym column in every table and the vault move to the new key in one go', async () => {
  const dir = tmpDir();
  const { e, vault } = await setup(dir);
  try {
    await checkWarehouseKey(e, OLD, { record: true });
    assert.equal(await warehouseKeyId(e), pseudonymKeyId(OLD));
    assert.deepEqual(await allPseudonyms(e), expected(OLD));
    const r = await rotatePseudonyms(e, vault, OLD, NEW, { who: 'tester' });
    assert.equal(r.mapped_pseudonyms, 8);
    assert.equal(r.vault_records_moved, 3);
    assert.equal(r.updated['events.user_id'], 9);
    assert.equal(r.updated['users.source_ids'], 3);
    assert.equal(r.updated['hr_records.manager_id'], 3);
    assert.equal(r.updated['identity_map.key_pseudonym'], 8);
    assert.equal(r.updated['identity_links.email_pseudonym'], 3);
    assert.equal(r.updated['learner_keys.user_id'], 3);
    assert.deepEqual(r.unmapped, {});
    assert.equal(r.new_key_id, pseudonymKeyId(NEW));
    // what a fresh load with the new key would produce
    assert.deepEqual(await allPseudonyms(e), expected(NEW));
    const u = await e.one<{ source_ids: string[] }>(`SELECT source_ids FROM users WHERE user_id = $1`, [NEW.of('employee_id', 'E1')!]);
    assert.deepEqual(u!.source_ids, [`email:${NEW.of('email', 'ann@corp.test')}`, `employee_id:${NEW.of('employee_id', 'E1')}`, `moodle_id:${NEW.of('moodle_id', 'm-100')}`]);
    assert.equal(await warehouseKeyId(e), pseudonymKeyId(NEW));
    await assert.rejects(checkWarehouseKey(e, OLD), /built with another pseudonym key/);
    // the vault on disk is filed under the new pseudonyms and logs the rotation
    const reopened = Vault.open(vault.file, VAULT_KEY);
    assert.deepEqual(reopened.entries().map(([p]) => p).sort(), PEOPLE.map((p) => NEW.of('employee_id', p.emp)!).sort());
    assert.equal(reopened.lookup(NEW.of('employee_id', 'E2')!, 'tester')!.identifiers.email, 'ben@corp.test');
    assert.match(reopened.accessLog().find((l) => l.pseudonym === '*')!.purpose!, /pseudonym key rotation/);
    // rotating again with the old key is refused
    await assert.rejects(rotatePseudonyms(e, reopened, OLD, NEW), /not the old key given/);
  } finally {
    await e.close();
  }
});

test('rotate: a wrong old key or pseudonyms missing from the vault change nothing', async () => {
  const dir = tmpDir();
  const { e, vault } = await setup(dir);
  try {
    const before = readFileSync(vault.file);
    const WRONG = new Pseudonymizer(Buffer.from('5'.repeat(64), 'hex'));
    await assert.rejects(rotatePseudonyms(e, vault, WRONG, NEW), (x: Error) => x instanceof RotationError && /old key is not the key the vault was filled with/.test(x.message));
    // a person the vault knows nothing about
    await e.run(`INSERT INTO events VALUES ('lms:x', 'ffffffffffffffffffffffffffffffff', 'view', NULL, NULL, TIMESTAMP '2024-01-02 10:00:00', 0, 1, 'lms', 1)`);
    await assert.rejects(rotatePseudonyms(e, vault, OLD, NEW), (x: Error) => /events\.user_id: 1/.test(x.message) && !x.message.includes('ffffffff'));
    assert.deepEqual(readFileSync(vault.file), before);
    assert.ok((await allPseudonyms(e)).has(OLD.of('employee_id', 'E1')!));
    // allowUnmapped: proceeds and reports it
    const r = await rotatePseudonyms(e, vault, OLD, NEW, { allowUnmapped: true });
    assert.deepEqual(r.unmapped, { 'events.user_id': 1 });
    assert.ok((await allPseudonyms(e)).has('ffffffffffffffffffffffffffffffff'));
  } finally {
    await e.close();
  }
});

test('rotate: a failed commit rolls the warehouse back and restores the vault file', async () => {
  const dir = tmpDir();
  const { e, vault } = await setup(dir);
  try {
    const before = readFileSync(vault.file);
    // An engine whose COMMIT fails after everything (including the vault save) succeeded.
    const failing: Engine = Object.create(e);
    failing.transaction = async <T>(fn: () => Promise<T>): Promise<T> => {
      await e.run('BEGIN TRANSACTION');
      try {
        await fn();
        throw new Error('simulated commit failure');
      } catch (err) {
        await e.run('ROLLBACK');
        throw err;
      }
    };
    await assert.rejects(rotatePseudonyms(failing, vault, OLD, NEW), /simulated commit failure/);
    assert.deepEqual(await allPseudonyms(e), expected(OLD));
    assert.deepEqual(readFileSync(vault.file), before);
    assert.deepEqual(vault.entries().map(([p]) => p).sort(), PEOPLE.map((p) => OLD.of('employee_id', p.emp)!).sort());
    // and the real rotation still works afterwards
    await rotatePseudonyms(e, vault, OLD, NEW);
    assert.deepEqual(await allPseudonyms(e), expected(NEW));
  } finally {
    await e.close();
  }
});
