// End to end: after a demo run, no byte of any output or log, and no value in any warehouse table,
// holds a key or one of the generator's raw emails, names or phone numbers; the vault holds them,
// encrypted, and gives them back to a key holder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { Vault } from '../src/privacy/vault.js';
import { Pseudonymizer } from '../src/privacy/pseudonym.js';
import { tmpDir, TEST_KEY_HEX } from './helpers/tmp.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const VAULT_KEY_HEX = '1f'.repeat(32);

function csvColumn(file: string, names: string[]): string[][] {
  const [header, ...rows] = readFileSync(file, 'utf8').trim().split('\n');
  const cols = header.split(',');
  return rows.map((r) => r.split(',')).map((cells) => names.map((n) => cells[cols.indexOf(n)]));
}

test('no key or raw identifier in outputs, logs or the warehouse; the vault gives them back to key holders', async () => {
  const dir = tmpDir();
  const env = { ...process.env, LEARNPIPE_PSEUDONYM_KEY: TEST_KEY_HEX, LEARNPIPE_VAULT_KEY: VAULT_KEY_HEX };
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/learnpipe.js'), 'demo', '--dir', dir, '--users', '60', '--days', '40'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);

  const hr = csvColumn(path.join(dir, 'raw/hris/employees.csv'), ['employee_id', 'email', 'first_name', 'last_name', 'phone']);
  const lms = csvColumn(path.join(dir, 'raw/lms/users.csv'), ['email', 'firstname', 'lastname', 'username']);
  const secrets = new Set<string>([TEST_KEY_HEX, VAULT_KEY_HEX]);
  for (const [, email, first, last, phone] of hr) [email, `${first} ${last}`, phone].forEach((s) => secrets.add(s.trim().toLowerCase()));
  for (const [email, first, last, username] of lms) [email.trim(), `${first} ${last}`, username].forEach((s) => secrets.add(s.trim().toLowerCase()));
  assert.ok(secrets.size > 100);

  // Every output file and every log line.
  const texts: Array<[string, string]> = [['stdout', r.stdout], ['stderr', r.stderr]];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else texts.push([path.relative(dir, p), readFileSync(p).toString('latin1')]);
    }
  };
  walk(path.join(dir, 'out'));
  try { walk(path.join(dir, 'runs')); } catch { /* no blocked runs */ }
  for (const [name, text] of texts) {
    const lower = text.toLowerCase();
    for (const s of secrets) assert.ok(!lower.includes(s), `${name} contains ${s.slice(0, 4)}…`);
  }

  // Every text value in every warehouse table (the file itself may be compressed, so ask the engine).
  const engine = await DuckDBEngine.open(path.join(dir, 'warehouse.duckdb'));
  try {
    await engine.run(`CREATE TEMP TABLE secrets (s VARCHAR)`);
    await engine.appendRows('secrets', [...secrets].map((s) => [s]));
    const cols = await engine.all<{ t: string; c: string }>(`SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = 'main' AND table_name <> 'secrets' AND data_type IN ('VARCHAR', 'JSON', 'VARCHAR[]')`);
    for (const { t, c } of cols) {
      const n = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM "${t}" x WHERE EXISTS (SELECT 1 FROM secrets WHERE contains(lower(CAST(x."${c}" AS VARCHAR)), s))`);
      assert.equal(Number(n?.n), 0, `${t}.${c} holds a raw identifier or key`);
    }
    // Files are owner-only.
    for (const f of ['warehouse.duckdb', 'vault/pii.vault', 'keys/pseudonym.key'].map((x) => path.join(dir, x)).filter((x) => { try { statSync(x); return true; } catch { return false; } })) {
      assert.equal(statSync(f).mode & 0o077, 0, `${f} is readable by others`);
    }
    // A key holder can go back from a pseudonym to the person; the lookup is logged.
    const pz = new Pseudonymizer(Buffer.from(TEST_KEY_HEX, 'hex'));
    const [empId, email, first] = hr[0];
    const vault = Vault.open(path.join(dir, 'vault/pii.vault'), Buffer.from(VAULT_KEY_HEX, 'hex'));
    const rec = vault.lookup(pz.of('employee_id', empId)!, 'test', 'audit');
    assert.ok(rec, 'the employee is in the vault');
    assert.equal(JSON.stringify(rec).includes(first), true);
    assert.equal(JSON.stringify(rec).toLowerCase().includes(email.toLowerCase()) || JSON.stringify(vault.lookup(pz.of('email', email)!, 'test')).toLowerCase().includes(email.toLowerCase()), true);
    assert.ok(vault.accessLog().some((a) => a.who === 'test' && a.purpose === 'audit'));
    assert.ok(!readFileSync(path.join(dir, 'vault/pii.vault'), 'latin1').toLowerCase().includes(email.toLowerCase()));
  } finally {
    await engine.close();
  }
});
