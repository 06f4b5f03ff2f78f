import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CommanderError } from 'commander';
import { buildProgram } from '../src/cli/main.js';
import { registerPrivacyCommands } from '../src/cli/privacy-commands.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { Pseudonymizer } from '../src/privacy/pseudonym.js';
import { Vault } from '../src/privacy/vault.js';
import { createKeyFile } from '../src/privacy/keys.js';
import { tmpDir, TEST_KEY_HEX } from './helpers/tmp.js';

const VAULT_HEX = '6'.repeat(64);

async function run(args: string[]): Promise<{ data: any; error?: CommanderError }> {
  const program = buildProgram({ commandSets: false });
  let data: unknown;
  registerPrivacyCommands(program, { globals: () => ({ json: true }), emit: (_json, _human, d) => (data = d) });
  program.exitOverride();
  try {
    await program.parseAsync(['node', 'learnpipe', ...args]);
    return { data };
  } catch (err) {
    if (err instanceof CommanderError) return { data, error: err };
    throw err;
  }
}

async function setup() {
  const dir = tmpDir();
  mkdirSync(path.join(dir, 'keys'), { recursive: true });
  writeFileSync(path.join(dir, 'keys/pseudonym.key'), TEST_KEY_HEX + '\n', { mode: 0o600 });
  writeFileSync(path.join(dir, 'keys/vault.key'), VAULT_HEX + '\n', { mode: 0o600 });
  writeFileSync(path.join(dir, 'pipeline.yaml'), `warehouse: warehouse.duckdb\nkeys: { pseudonym: { file: keys/pseudonym.key } }\nsources: []\n`);
  const pz = new Pseudonymizer(Buffer.from(TEST_KEY_HEX, 'hex'));
  const e = await DuckDBEngine.open(path.join(dir, 'warehouse.duckdb'));
  await ensureWarehouse(e);
  const vault = Vault.open(path.join(dir, 'vault/pii.vault'), Buffer.from(VAULT_HEX, 'hex'));
  for (let i = 0; i < 60; i++) {
    const emp = `E${i}`;
    const uid = pz.of('employee_id', emp)!;
    await e.run(`INSERT INTO identity_map VALUES ('employee_id', $1, $1, 'employee_id', ['hris'])`, [uid]);
    await e.run(`INSERT INTO users VALUES ($1, [$2], 'employee_id', NULL, 'active', $3, NULL, $4)`, [uid, `employee_id:${uid}`, i % 2 ? 'L1' : 'L2', i < 50 ? 'Sales' : 'Legal']);
    await e.run(`INSERT INTO enrollments VALUES ($1, 'c1', NULL, NULL, ${i % 3 ? 'TIMESTAMP \'2024-02-01 00:00:00\'' : 'NULL'}, 'x', 'lms', 1)`, [uid]);
    vault.put(uid, 'hris', { first_name: `First${i}` }, { employee_id: emp, email: `person${i}@corp.test` }, 'employee_id');
  }
  vault.save();
  await e.close();
  return { dir, pz, cfg: path.join(dir, 'pipeline.yaml') };
}

test('cli: vault lookup prints the record, logs the access, and refuses a wrong key (exit 2)', async () => {
  const { dir, pz, cfg } = await setup();
  const uid = pz.of('employee_id', 'E7')!;
  const r = await run(['vault', 'lookup', uid, '-c', cfg, '--who', 'auditor', '--purpose', 'SAR-1']);
  assert.equal(r.error, undefined, r.error?.message);
  assert.equal(r.data.records[uid].identifiers.email, 'person7@corp.test');
  const log = Vault.open(path.join(dir, 'vault/pii.vault'), Buffer.from(VAULT_HEX, 'hex')).accessLog();
  assert.deepEqual(log.map((l) => [l.who, l.pseudonym, l.purpose]), [['auditor', uid, 'SAR-1']]);
  const saved = process.env.LEARNPIPE_VAULT_KEY;
  process.env.LEARNPIPE_VAULT_KEY = '7'.repeat(64);
  try {
    const bad = await run(['vault', 'lookup', uid, '-c', cfg]);
    assert.equal(bad.error?.exitCode, 2);
    assert.match(bad.error!.message, /this key does not open the vault \(key id mismatch\)/);
    assert.ok(!bad.error!.message.includes('7777777') && !bad.error!.message.includes(VAULT_HEX));
  } finally {
    if (saved === undefined) delete process.env.LEARNPIPE_VAULT_KEY;
    else process.env.LEARNPIPE_VAULT_KEY = saved;
  }
  const missing = await run(['vault', 'lookup', 'nope', '-c', cfg, '--who', 'x']);
  assert.match(missing.error!.message, /no vault record for nope/);
});

test('cli: export aggregate writes only groups of at least k and a report; keys rotate re-keys everything', async () => {
  const { dir, cfg } = await setup();
  const r = await run(['export', 'aggregate', '-c', cfg, '--k', '20', '--as-of', '2024-05-01']);
  assert.equal(r.error, undefined, r.error?.message);
  const out = path.join(dir, 'out/aggregates/completion.csv');
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'department,role_level,course,n,completion_rate,completions');
  for (const line of lines.slice(1)) assert.ok(Number(line.split(',')[3]) >= 20, line);
  assert.ok(!lines.some((l) => l.startsWith('Legal')), 'Legal (10 people) is never published on its own');
  const report = JSON.parse(readFileSync(path.join(dir, 'out/aggregates/completion.report.json'), 'utf8'));
  assert.equal(report.k, 20);
  assert.equal(report.people, 60);
  assert.equal(report.suppressed_people + lines.slice(1).reduce((a, l) => a + Number(l.split(',')[3]), 0), 60);

  // with DP from a spec file: charged to the ledger once per release id, refused over budget
  const spec = path.join(dir, 'spec.yaml');
  writeFileSync(spec, `name: dept
sql: SELECT en.user_id, u.department, (en.completed_at IS NOT NULL)::INTEGER AS completed FROM enrollments en JOIN users u USING (user_id)
person_column: user_id
quasi_identifiers: [department]
measures: [{ name: completions, sum: { column: completed, lower: 0, upper: 1 } }]
k: 5
dp: { epsilon: 0.6, mechanism: laplace, budget: { epsilon: 1 } }
`);
  const d1 = await run(['export', 'aggregate', '-c', cfg, '--spec', spec, '--as-of', '2024-05-01']);
  assert.equal(d1.error, undefined, d1.error?.message);
  assert.equal(d1.data.budget.epsilon_spent, 0.6);
  const again = await run(['export', 'aggregate', '-c', cfg, '--spec', spec, '--as-of', '2024-05-01']);
  assert.equal(again.data.budget.epsilon_spent, 0.6, 'same release id: not charged twice');
  const over = await run(['export', 'aggregate', '-c', cfg, '--spec', spec, '--as-of', '2024-05-02']);
  assert.equal(over.error?.exitCode, 2);
  assert.match(over.error!.message, /privacy budget exceeded for dataset "dept": epsilon spent 0\.6 \+ requested 0\.6 > budget 1/);
  const dry = await run(['export', 'aggregate', '-c', cfg, '--spec', spec, '--as-of', '2024-05-02', '--seed', 's1']);
  assert.equal(dry.data.dry_run, true);
  assert.equal(dry.data.dp.ledger, undefined);

  // rotate
  const newKey = createKeyFile(path.join(dir, 'keys/new.key'));
  const rot = await run(['keys', 'rotate', '-c', cfg, '--new-key', newKey, '--who', 'ops']);
  assert.equal(rot.error, undefined, rot.error?.message);
  assert.equal(rot.data.mapped_pseudonyms, 120);
  assert.equal(rot.data.updated['enrollments.user_id'], 60);
  const npz = new Pseudonymizer(Buffer.from(readFileSync(newKey, 'utf8').trim(), 'hex'));
  const e = await DuckDBEngine.open(path.join(dir, 'warehouse.duckdb'));
  try {
    const u = await e.one<{ n: number }>(`SELECT count(*) AS n FROM users WHERE user_id = $1`, [npz.of('employee_id', 'E3')!]);
    assert.equal(Number(u!.n), 1);
  } finally {
    await e.close();
  }
  // the old key is now refused
  const again2 = await run(['keys', 'rotate', '-c', cfg, '--new-key', newKey]);
  assert.equal(again2.error?.exitCode, 2);
  assert.ok(existsSync(path.join(dir, 'vault/pii.vault')));
});
