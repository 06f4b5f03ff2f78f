import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tmpDir, TEST_KEY_HEX } from './helpers/tmp.js';

const ROOT = path.resolve(import.meta.dirname, '..');
function cli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/learnpipe.js'), ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--help explains every command and the exit codes', () => {
  const r = cli(['--help']);
  assert.equal(r.code, 0);
  for (const c of ['init', 'validate', 'generate', 'ingest', 'run', 'demo', 'keys']) assert.match(r.stdout, new RegExp(`\\n  ${c}\\b`), c);
  assert.match(r.stdout, /Exit codes: 0 ok · 1 a quality gate blocked the run · 2 usage or config error · 3 a source could not be read/);
  const sub = cli(['run', '--help']);
  assert.match(sub.stdout, /--as-of <date>/);
});

test('usage errors exit 2', () => {
  assert.equal(cli(['frobnicate']).code, 2);
  const r = cli(['run', '--as-of', 'yesterday', '-c', '/nonexistent.yaml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--as-of expects a date/);
});

test('init writes a starter config and a private key file; validate names config mistakes with exit 2', () => {
  const dir = tmpDir();
  const r = cli(['init', '--out', 'pipeline.yaml', '--key', 'keys/pseudonym.key'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(path.join(dir, 'pipeline.yaml')));
  assert.equal(statSync(path.join(dir, 'keys/pseudonym.key')).mode & 0o777, 0o600);
  assert.equal(cli(['init', '--out', 'pipeline.yaml'], { cwd: dir }).code, 2, 'refuses to overwrite');
  assert.equal(cli(['keys', 'create', '--out', 'keys/pseudonym.key'], { cwd: dir }).code, 2, 'refuses to overwrite a key');

  // The starter's example source points at files that do not exist yet.
  const v = cli(['validate', '-c', 'pipeline.yaml'], { cwd: dir });
  assert.equal(v.code, 2);
  assert.match(v.stderr, /pipeline\.yaml:\d+:\d+: sources\[0\]\.path: no file matches "data\/events\*\.csv"/);

  writeFileSync(path.join(dir, 'pipeline.yaml'), readFileSync(path.join(dir, 'pipeline.yaml'), 'utf8').replace('    target: events', '    taget: events'));
  const bad = cli(['validate', '-c', 'pipeline.yaml', '--json'], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /sources\[0\]\.taget: unknown key "taget" \(did you mean "target"\?\)/);
});

test('a run without any key says how to create one (exit 2); an unreadable source exits 3; --json prints a summary', () => {
  const dir = tmpDir();
  writeFileSync(
    path.join(dir, 'pipeline.yaml'),
    `keys: { pseudonym: { env: LP_TEST_KEY_UNSET, file: keys/none.key } }
sources:
  - { name: a, format: csv, path: a.csv, target: events, fields: { event_id: id, user: { column: u, kind: lms_id }, event_type: t, timestamp: { column: ts, format: epoch_s } } }
`,
  );
  const noKey = cli(['run', '-c', 'pipeline.yaml', '--as-of', '2024-05-01'], { cwd: dir });
  assert.equal(noKey.code, 2);
  assert.match(noKey.stderr, /no pseudonym key found in the environment variable LP_TEST_KEY_UNSET or the key file .*none\.key\. Create one with `learnpipe keys create/);

  const noFile = cli(['run', '-c', 'pipeline.yaml', '--as-of', '2024-05-01'], { cwd: dir, env: { LP_TEST_KEY_UNSET: TEST_KEY_HEX } });
  assert.equal(noFile.code, 3, noFile.stderr);
  assert.match(noFile.stderr, /source a: no file matches a\.csv/);

  writeFileSync(path.join(dir, 'a.csv'), 'id,u,t,ts\n1,x,view,1710000000\n2,y,view,oops\n');
  // The QA gate blocks this run (a stale source, half the rows rejected): exit 1, reasons on stderr.
  const gate = cli(['run', '-c', 'pipeline.yaml', '--as-of', '2024-05-01'], { cwd: dir, env: { LP_TEST_KEY_UNSET: TEST_KEY_HEX } });
  assert.equal(gate.code, 1, gate.stderr);
  assert.match(gate.stderr, /the QA gate blocked run .*\n.*freshness · a: [\d.]+ \(threshold <= 7 days\)/);
  assert.match(gate.stderr, /reject_rate · a: 0\.5 \(threshold <= 0\.05\)/);
  writeFileSync(path.join(dir, 'pipeline.yaml'), readFileSync(path.join(dir, 'pipeline.yaml'), 'utf8') + 'qa: { severity: { freshness: warn, reject_rate: warn } }\n');
  const ok = cli(['run', '-c', 'pipeline.yaml', '--as-of', '2024-05-01', '--json'], { cwd: dir, env: { LP_TEST_KEY_UNSET: TEST_KEY_HEX } });
  assert.equal(ok.code, 0, ok.stderr);
  const summary = JSON.parse(ok.stdout);
  assert.equal(summary.as_of, '2024-05-01');
  // The blocked run loaded the file (loads are kept; only publishing was blocked), so this one skips it.
  assert.equal(summary.ingest.totals.files_skipped, 1);
  const rec = JSON.parse(readFileSync(path.join(dir, 'out', 'reconciliation.json'), 'utf8'));
  assert.deepEqual([rec.loads[0].rows_read, rec.loads[0].accepted, rec.loads[0].rejected], [2, 1, 1]);
  assert.ok(!ok.stdout.includes(TEST_KEY_HEX) && !ok.stderr.includes(TEST_KEY_HEX), 'the key never appears in output');
});
