import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Vault, VaultError, vaultKeyId, loadVaultKey, VAULT_MAGIC } from '../src/privacy/vault.js';
import { tmpDir, TEST_KEY_HEX } from './helpers/tmp.js';

const KEY = Buffer.from(TEST_KEY_HEX, 'hex');
const OTHER = Buffer.from('1'.repeat(64), 'hex');

function sample(file: string): Vault {
  const v = Vault.open(file, KEY);
  v.put('p_alice', 'hris', { full_name: 'Alice Example', phone: '+44 20 7946 0001' }, { employee_id: 'E100', email: 'alice.example@corp.test' }, 'employee_id');
  v.put('p_bob', 'lms', { full_name: 'Bob Sample', address: null }, { email: 'bob.sample@corp.test' });
  v.save();
  return v;
}

test('vault: round trip through the encrypted file', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'sub', 'vault.bin');
  const v0 = Vault.open(file, KEY);
  assert.equal(v0.created, true);
  assert.equal(v0.size, 0);
  sample(file);
  const v = Vault.open(file, KEY);
  assert.equal(v.created, false);
  assert.equal(v.size, 2);
  const rec = v.lookup('p_alice', 'tester', 'ticket 42');
  assert.deepEqual(rec, {
    kind: 'employee_id',
    identifiers: { employee_id: 'E100', email: 'alice.example@corp.test' },
    fields: { hris: { full_name: 'Alice Example', phone: '+44 20 7946 0001' } },
  });
  // merging: a second put for the same source keeps other columns
  v.put('p_alice', 'hris', { phone: '+44 20 7946 0002' });
  v.put('p_alice', 'lms', { nickname: 'al' });
  v.save();
  const again = Vault.open(file, KEY).entries().find(([p]) => p === 'p_alice')![1];
  assert.deepEqual(again.fields, { hris: { full_name: 'Alice Example', phone: '+44 20 7946 0002' }, lms: { nickname: 'al' } });
  assert.equal(Vault.open(file, KEY).lookup('nobody', 'tester'), undefined);
});

test('vault: a wrong key is refused by key id before decrypting, revealing nothing', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'vault.bin');
  sample(file);
  let err: unknown;
  try {
    Vault.open(file, OTHER);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof VaultError);
  assert.equal((err as Error).name, 'VaultError');
  assert.match((err as Error).message, /this key does not open the vault \(key id mismatch\)/);
  for (const secret of [TEST_KEY_HEX, '1'.repeat(64), 'alice', 'Alice', 'E100', 'p_alice']) {
    assert.ok(!(err as Error).message.includes(secret), `message must not contain ${secret}`);
  }
  assert.equal(vaultKeyId(KEY).length, 16);
  assert.notEqual(vaultKeyId(KEY), vaultKeyId(OTHER));
});

test('vault: flipping any byte of the ciphertext or header is detected', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'vault.bin');
  sample(file);
  const good = readFileSync(file);
  const headerEnd = good.indexOf(0x0a, VAULT_MAGIC.length + 1);
  // a byte in the ciphertext (first, middle, last)
  for (const at of [headerEnd + 1, Math.floor((headerEnd + good.length) / 2), good.length - 1]) {
    const bad = Buffer.from(good);
    bad[at] ^= 0x01;
    writeFileSync(file, bad);
    assert.throws(() => Vault.open(file, KEY), (e: Error) => e instanceof VaultError && /vault file is damaged or was tampered with/.test(e.message), `byte ${at}`);
  }
  // the header's iv changed (authenticated as additional data)
  const text = good.toString('latin1');
  const header = JSON.parse(text.slice(VAULT_MAGIC.length + 1, headerEnd));
  const iv = Buffer.from(header.iv, 'base64');
  iv[0] ^= 0x80;
  const forged = text.slice(0, VAULT_MAGIC.length + 1) + JSON.stringify({ ...header, iv: iv.toString('base64') }) + text.slice(headerEnd);
  writeFileSync(file, Buffer.from(forged, 'latin1'));
  assert.throws(() => Vault.open(file, KEY), /damaged or was tampered with/);
  // a truncated file
  writeFileSync(file, good.subarray(0, good.length - 5));
  assert.throws(() => Vault.open(file, KEY), /damaged or was tampered with/);
  // not a vault at all
  writeFileSync(file, 'hello\n');
  assert.throws(() => Vault.open(file, KEY), /is not a learnpipe vault/);
  writeFileSync(file, good);
  assert.equal(Vault.open(file, KEY).size, 2);
});

test('vault: the file is owner-only and saved atomically (no temp files left)', { skip: process.platform === 'win32' }, () => {
  const dir = tmpDir();
  const file = path.join(dir, 'vault.bin');
  sample(file);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const v = Vault.open(file, KEY);
  v.put('p_carol', 'hris', { full_name: 'Carol' });
  v.save();
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['vault.bin']);
});

test('vault: every lookup is appended to the access log and saved immediately', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'vault.bin');
  sample(file);
  const before = Date.now();
  Vault.open(file, KEY).lookup('p_alice', 'alice-admin', 'subject access request');
  Vault.open(file, KEY).lookup('p_missing', 'bob-admin');
  const log = Vault.open(file, KEY).accessLog();
  assert.equal(log.length, 2);
  assert.equal(log[0].who, 'alice-admin');
  assert.equal(log[0].pseudonym, 'p_alice');
  assert.equal(log[0].purpose, 'subject access request');
  assert.equal(log[0].found, true);
  assert.match(log[0].at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  assert.ok(Date.parse(log[0].at) >= before - 1000);
  assert.equal(log[1].found, false);
  assert.throws(() => Vault.open(file, KEY).lookup('p_alice', '  '), /who is looking/);
});

test('vault: the file bytes contain no plaintext identifiers, names or the key', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'vault.bin');
  sample(file);
  const bytes = readFileSync(file);
  for (const needle of ['alice.example@corp.test', 'bob.sample@corp.test', '@corp.test', 'Alice Example', 'E100', 'p_alice', 'full_name', 'records']) {
    assert.equal(bytes.includes(Buffer.from(needle)), false, `file must not contain ${needle}`);
  }
  assert.equal(bytes.includes(KEY), false);
  assert.equal(bytes.includes(Buffer.from(TEST_KEY_HEX)), false);
  assert.equal(bytes.includes(Buffer.from(TEST_KEY_HEX, 'hex').toString('base64')), false);
});

test('vault: rekey moves records and re-points the access log', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'vault.bin');
  sample(file);
  const v = Vault.open(file, KEY);
  v.lookup('p_alice', 'x');
  assert.equal(v.rekey(new Map([['p_alice', 'n_alice'], ['p_bob', 'n_bob']])), 2);
  v.save();
  const w = Vault.open(file, KEY);
  assert.deepEqual(w.entries().map(([p]) => p).sort(), ['n_alice', 'n_bob']);
  const log = w.accessLog();
  assert.equal(log[0].pseudonym, 'n_alice');
  assert.equal(log.at(-1)!.pseudonym, '*');
  // vault key change
  w.changeKey(OTHER);
  w.save();
  assert.throws(() => Vault.open(file, KEY), /key id mismatch/);
  assert.equal(Vault.open(file, OTHER).size, 2);
});

test('vault: the key comes from LEARNPIPE_VAULT_KEY or a key file and must differ from the pseudonym key', () => {
  const dir = tmpDir();
  const keyFile = path.join(dir, 'vault.key');
  writeFileSync(keyFile, '2'.repeat(64) + '\n', { mode: 0o600 });
  const saved = process.env.LEARNPIPE_VAULT_KEY;
  try {
    delete process.env.LEARNPIPE_VAULT_KEY;
    assert.deepEqual(loadVaultKey({ env: 'LEARNPIPE_VAULT_KEY', file: 'vault.key' }, dir), Buffer.from('2'.repeat(64), 'hex'));
    process.env.LEARNPIPE_VAULT_KEY = TEST_KEY_HEX;
    assert.deepEqual(loadVaultKey(undefined, dir), KEY);
    assert.throws(() => loadVaultKey(undefined, dir, KEY), (e: Error) => /same as the pseudonym key/.test(e.message) && !e.message.includes(TEST_KEY_HEX));
    delete process.env.LEARNPIPE_VAULT_KEY;
    assert.throws(() => loadVaultKey(undefined, dir), /no vault key found/);
  } finally {
    if (saved === undefined) delete process.env.LEARNPIPE_VAULT_KEY;
    else process.env.LEARNPIPE_VAULT_KEY = saved;
  }
  assert.ok(existsSync(keyFile));
});

test('vault: the load-path helpers file raw keys and PII columns under their pseudonyms', async () => {
  const { DuckDBEngine } = await import('../src/engine/duckdb.js');
  const { Pseudonymizer } = await import('../src/privacy/pseudonym.js');
  const { vaultKeysFromTable, vaultPiiFromTable } = await import('../src/privacy/vault.js');
  const pz = new Pseudonymizer(Buffer.from('5'.repeat(64), 'hex'));
  const dir = tmpDir();
  const e = await DuckDBEngine.open(':memory:');
  try {
    await e.run(`CREATE TEMP TABLE __keys (role VARCHAR, kind VARCHAR, raw VARCHAR, pseudonym VARCHAR)`);
    await e.appendRows('__keys', [
      ['user', 'employee_id', 'E1', pz.of('employee_id', 'E1')],
      ['email', 'email', 'Ann@Corp.test', pz.of('email', 'Ann@Corp.test')],
      ['manager', 'employee_id', 'E1', pz.of('employee_id', 'E1')],
      ['user', 'employee_id', '', null],
    ]);
    await e.run(`CREATE TEMP TABLE raw_rows AS SELECT * FROM (VALUES ('E1', 'Ann', '+44 20 7946 0001'), ('E2', 'Ben', NULL), (NULL, 'Nobody', NULL)) t(employee_id, first_name, phone)`);
    const v = Vault.open(path.join(dir, 'v.bin'), KEY);
    assert.equal(await vaultKeysFromTable(e, v, 'hris'), 2);
    assert.equal(await vaultPiiFromTable(e, v, { source: 'hris', table: 'raw_rows', keyColumn: 'employee_id', kind: 'employee_id', piiColumns: ['first_name', 'phone'], pz }), 2);
    v.save();
    const w = Vault.open(path.join(dir, 'v.bin'), KEY);
    assert.equal(w.size, 3);
    assert.deepEqual(w.lookup(pz.of('employee_id', 'E1')!, 't'), { kind: 'employee_id', identifiers: { employee_id: 'E1' }, fields: { hris: { first_name: 'Ann', phone: '+44 20 7946 0001' } } });
    assert.deepEqual(w.lookup(pz.of('email', 'ann@corp.test')!, 't')!.identifiers, { email: 'Ann@Corp.test' });
    assert.deepEqual(w.lookup(pz.of('employee_id', 'E2')!, 't')!.fields, { hris: { first_name: 'Ben', phone: null } });
  } finally {
    await e.close();
  }
});
