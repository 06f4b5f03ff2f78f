// The run manifest: deterministic bytes, a verify round trip, tamper detection (changed, missing and extra
// files), and a config hash that ignores secrets and key order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  buildManifest,
  canonicalJson,
  configHash,
  isSecretKeyName,
  listFiles,
  ManifestError,
  manifestInputsFromLoads,
  readManifest,
  serializeManifest,
  sha256File,
  verifyManifest,
  writeManifest,
  type BuildManifestOptions,
} from '../src/quality/manifest.js';
import { tmpDir } from './helpers/tmp.js';

function outputs(dir: string): void {
  mkdirSync(path.join(dir, 'features'), { recursive: true });
  writeFileSync(path.join(dir, 'training.csv'), 'user_id,cutoff,label\nu1,2024-01-01,1\nu2,2024-01-01,0\n');
  writeFileSync(path.join(dir, 'qa.json'), '{"status":"pass"}\n');
  writeFileSync(path.join(dir, 'features', 'catalog.json'), '[]\n');
  writeFileSync(path.join(dir, 'report.html'), '<!DOCTYPE html><title>r</title>\n');
}

function options(dir: string): BuildManifestOptions {
  return {
    run_id: '2024-12-01-3f9a1c2e',
    as_of: '2024-12-01',
    learnpipe_version: '0.1.0',
    config_hash: configHash({ warehouse: 'w.duckdb', sources: [{ name: 'lms' }] }),
    inputs: manifestInputsFromLoads([
      { load_id: 1, source: 'lms', input: 'raw/a.csv', sha256: 'ab'.repeat(32), target: 'events', rows_read: 10, accepted: 8, duplicates: 1, conflicts: 0, rejected: 1, dst_gap: 0, dst_overlap: 0, late: 0, watermark_before: null, watermark_after: '2024-11-30T10:00:00Z', min_event_time: '2024-11-01T00:00:00Z', pii_redacted: 0, rejects_by_reason: { bad_timestamp: 1 } },
    ]),
    watermarks: { before: { lms: null }, after: { lms: '2024-11-30T10:00:00Z' } },
    stage_counts: { events: 8, training: 2, spine: 2 },
    labels: [
      { name: 'zeta', definition_hash: 'f'.repeat(64) },
      { name: 'completes_within_30d', definition_hash: 'e'.repeat(64) },
    ],
    qa: [{ check_name: 'unique_key', subject: 'training', severity: 'error', status: 'pass', value: 0, threshold: '= 0', detail: null }],
    outputs_dir: dir,
  };
}

test('manifest: sha256File matches node:crypto', async () => {
  const dir = tmpDir();
  const f = path.join(dir, 'x.bin');
  const bytes = Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => i % 251));
  writeFileSync(f, bytes);
  assert.equal(await sha256File(f), createHash('sha256').update(bytes).digest('hex'));
});

test('manifest: lists every output (sorted, relative, bytes, sha256) and writes deterministic JSON', async () => {
  const dir = tmpDir();
  outputs(dir);
  const m = await buildManifest(options(dir));
  assert.deepEqual(
    m.outputs.map((o) => o.path),
    ['features/catalog.json', 'qa.json', 'report.html', 'training.csv'],
  );
  const training = m.outputs.find((o) => o.path === 'training.csv')!;
  const content = readFileSync(path.join(dir, 'training.csv'));
  assert.equal(training.bytes, content.length);
  assert.equal(training.sha256, createHash('sha256').update(content).digest('hex'));
  assert.deepEqual(m.labels.map((l) => l.name), ['completes_within_30d', 'zeta']);
  assert.deepEqual(m.inputs[0], { source: 'lms', path: 'raw/a.csv', sha256: 'ab'.repeat(32), watermark: { from: null, to: '2024-11-30T10:00:00Z' }, target: 'events', rows_read: 10, accepted: 8, duplicates: 1, rejected: 1 });

  const file = writeManifest(dir, m);
  assert.equal(path.basename(file), 'manifest.json');
  const text = readFileSync(file, 'utf8');
  assert.ok(text.endsWith('}\n'));
  assert.match(text, /^\{\n {2}"as_of": "2024-12-01",\n {2}"config_hash": /, 'sorted keys, 2-space indent');
  // Keys are sorted at every depth.
  const keysSorted = (x: unknown): boolean =>
    Array.isArray(x) ? x.every(keysSorted) : x !== null && typeof x === 'object' ? Object.keys(x).join() === Object.keys(x).sort().join() && Object.values(x).every(keysSorted) : true;
  assert.ok(keysSorted(JSON.parse(text)));
  // Building again (now with manifest.json present, which is never listed) gives the same bytes.
  const again = await buildManifest(options(dir));
  assert.equal(serializeManifest(again), text);
  assert.deepEqual(readManifest(file), JSON.parse(text));
});

test('manifest: verify round-trips and detects changed, missing and extra files', async () => {
  const dir = tmpDir();
  outputs(dir);
  const file = writeManifest(dir, await buildManifest(options(dir)));
  assert.deepEqual(await verifyManifest(file), { ok: true, missing: [], changed: [], extra: [], checked: 4 });

  // Same size, different bytes.
  const qa = path.join(dir, 'qa.json');
  writeFileSync(qa, '{"status":"fail"}\n');
  let v = await verifyManifest(file);
  assert.equal(v.ok, false);
  assert.deepEqual(v.changed, ['qa.json']);
  writeFileSync(qa, '{"status":"pass"}\n');
  assert.equal((await verifyManifest(file)).ok, true, 'restoring the bytes restores ok');

  appendFileSync(path.join(dir, 'training.csv'), 'u3,2024-01-01,1\n');
  rmSync(path.join(dir, 'features', 'catalog.json'));
  writeFileSync(path.join(dir, 'features', 'sneaky.csv'), 'x\n');
  writeFileSync(path.join(dir, 'zz-extra.txt'), 'x\n');
  v = await verifyManifest(file);
  assert.deepEqual(v, { ok: false, missing: ['features/catalog.json'], changed: ['training.csv'], extra: ['features/sneaky.csv', 'zz-extra.txt'], checked: 4 });
});

test('manifest: verify works from another working directory and after the folder moves', async () => {
  const root = tmpDir();
  const dir = path.join(root, 'out');
  mkdirSync(dir);
  outputs(dir);
  writeManifest(dir, await buildManifest(options(dir)));
  const moved = path.join(root, 'published', 'run-1');
  mkdirSync(path.dirname(moved), { recursive: true });
  (await import('node:fs')).renameSync(dir, moved);
  const cwd = process.cwd();
  try {
    process.chdir(root);
    assert.equal((await verifyManifest(path.join('published', 'run-1', 'manifest.json'))).ok, true);
  } finally {
    process.chdir(cwd);
  }
});

test('manifest: a manifest pointing outside its folder, or not a manifest, is refused', async () => {
  const dir = tmpDir();
  outputs(dir);
  const m = await buildManifest(options(dir));
  const file = path.join(dir, 'manifest.json');
  for (const bad of ['../etc/passwd', '/etc/passwd', 'a/../../b', 'C:/x', 'a//b']) {
    writeFileSync(file, serializeManifest({ ...m, outputs: [{ path: bad, bytes: 1, sha256: '0'.repeat(64) }] }));
    await assert.rejects(verifyManifest(file), ManifestError, bad);
  }
  writeFileSync(file, '{"hello": 1}');
  await assert.rejects(verifyManifest(file), /not a learnpipe manifest/);
  writeFileSync(file, '{not json');
  await assert.rejects(verifyManifest(file), ManifestError);
});

test('manifest: symlinks in the output folder are refused', { skip: process.platform === 'win32' }, async () => {
  const dir = tmpDir();
  outputs(dir);
  symlinkSync(path.join(dir, 'qa.json'), path.join(dir, 'link.json'));
  assert.throws(() => listFiles(dir), ManifestError);
  await assert.rejects(buildManifest(options(dir)), ManifestError);
});

test('configHash: ignores key order and secrets, sees every other change', () => {
  const base = {
    warehouse: '.learnpipe/warehouse.duckdb',
    keys: { pseudonym: { env: 'LEARNPIPE_PSEUDONYM_KEY' } },
    sources: [{ name: 'lms', format: 'csv', path: 'raw/*.csv', options: { delimiter: ',' }, auth: { password: 'hunter2', token: 'abc' } }],
    engine: { threads: 4 },
    api_key: 'sk-live-123',
    accessToken: 't',
    DB_PASSWORD: 'p',
  };
  const h = configHash(base);
  assert.match(h, /^[0-9a-f]{64}$/);
  // Key order, at every depth.
  const reordered = {
    engine: { threads: 4 },
    DB_PASSWORD: 'p',
    sources: [{ auth: { token: 'abc', password: 'hunter2' }, options: { delimiter: ',' }, path: 'raw/*.csv', format: 'csv', name: 'lms' }],
    accessToken: 't',
    api_key: 'sk-live-123',
    keys: { pseudonym: { env: 'LEARNPIPE_PSEUDONYM_KEY' } },
    warehouse: '.learnpipe/warehouse.duckdb',
  };
  assert.equal(configHash(reordered), h);
  // Secrets: changed, removed or added, the hash stays.
  assert.equal(configHash({ ...base, api_key: 'sk-live-456', accessToken: 'other', DB_PASSWORD: 'q' }), h);
  assert.equal(configHash({ ...base, keys: { pseudonym: { file: '/secure/key.hex' } } }), h);
  assert.equal(configHash({ ...base, sources: [{ ...base.sources[0]!, auth: { password: 'changed' } }] }), h);
  assert.equal(configHash({ ...base, client_secret: 'zzz' }), h);
  // Anything else changes it (including array order, which is meaningful).
  assert.notEqual(configHash({ ...base, engine: { threads: 8 } }), h);
  assert.notEqual(configHash({ ...base, sources: [{ ...base.sources[0]!, path: 'raw/**/*.csv' }] }), h);
  assert.notEqual(configHash({ ...base, sources: [...base.sources, { name: 'hr' }] }), h);
  assert.notEqual(configHash({ ...base, keyboard_layout: 'us' }), h, '"keyboard" is not a key');

  for (const name of ['key', 'keys', 'api_key', 'apiKey', 'APIKEY', 'secret', 'client-secret', 'password', 'DB_PASSWORD', 'token', 'accessToken', 'refresh.token', 'passwd'])
    assert.ok(isSecretKeyName(name), name);
  for (const name of ['keyboard', 'tokenizer', 'monkey', 'passage', 'name', 'warehouse'])
    assert.ok(!isSecretKeyName(name), name);
  assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: undefined, b: 1 }] }), '{"a":[{"b":1,"d":2}],"b":1}');
});
