import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { generateDataset } from '../src/generate/index.js';
import { classifyWallTime, transitions } from '../src/generate/zones.js';
import { tmpDir } from './helpers/tmp.js';

function digestTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

const SMALL = { users: 60, days: 70, start: '2024-02-01' };

test('same seed, same bytes; another seed, other data', async () => {
  const a = tmpDir();
  const b = tmpDir();
  const c = tmpDir();
  await generateDataset({ out: a, seed: 7, ...SMALL });
  await generateDataset({ out: b, seed: 7, ...SMALL });
  await generateDataset({ out: c, seed: 8, ...SMALL });
  const da = digestTree(a);
  assert.deepEqual(da, digestTree(b));
  assert.notDeepEqual(da, digestTree(c));
  for (const f of ['hris/employees.csv', 'lms/users.csv', 'lms/enrolments.csv', 'lms/quiz_attempts.csv', 'ilt/attendance.csv', 'mobile/events.jsonl', 'ground_truth.json']) assert.ok(da[f], `${f} written`);
  assert.deepEqual(Object.keys(da).filter((f) => f.startsWith('lms/log/')).sort(), ['lms/log/2024-02.csv', 'lms/log/2024-03.csv', 'lms/log/2024-04.csv']);
});

test('the ground truth counts what the files hold', async () => {
  const dir = tmpDir();
  const truth = await generateDataset({ out: dir, seed: 3, ...SMALL });
  for (const [rel, f] of Object.entries(truth.files)) {
    const lines = readFileSync(path.join(dir, rel), 'utf8').trimEnd().split('\n');
    const header = rel.endsWith('.csv') ? 1 : 0;
    assert.equal(lines.length - header, f.lines, `${rel}: lines`);
    assert.equal(f.accepted + f.exact_duplicates + f.rejected, f.lines, `${rel}: reconciles`);
    assert.equal(Object.values(f.rejects_by_reason).reduce((s, n) => s + n, 0), f.rejected, `${rel}: reasons add up`);
  }
  // Every monthly log file carries each planted fault; later files carry late rows.
  const logs = Object.entries(truth.files).filter(([rel]) => rel.startsWith('lms/log/'));
  for (const [rel, f] of logs) {
    for (const r of ['missing_user', 'bad_timestamp', 'unknown_event_type', 'negative_duration', 'malformed_line', 'conflicting_duplicate']) assert.ok(f.rejects_by_reason[r] > 0, `${rel}: ${r}`);
    assert.ok(f.exact_duplicates > 0, `${rel}: duplicates`);
  }
  assert.ok(logs.slice(1).some(([, f]) => f.late > 0), 'late rows admitted by the lookback');
  assert.ok(logs.slice(1).some(([, f]) => (f.rejects_by_reason.late_beyond_lookback ?? 0) > 0), 'late rows beyond the lookback');
  // Feb–Apr 2024 holds spring-forward gaps (US, Europe) and Sydney's fall-back overlap.
  const ilt = truth.files['ilt/attendance.csv'];
  assert.ok(ilt.dst_gap >= 2 && ilt.dst_overlap >= 2, JSON.stringify(ilt));
  assert.equal(truth.identity.by_rule.employee_id + truth.identity.by_rule.email + truth.identity.by_rule.unmatched, truth.identity.lms_users);
  assert.ok(truth.signal.decliners > 0 && truth.signal.outcomes.cert_fail > 0);
  const users = readFileSync(path.join(dir, 'lms/users.csv'), 'utf8');
  assert.match(users, /^id,username,email,firstname,lastname,idnumber,timezone\n/);
  const hr = readFileSync(path.join(dir, 'hris/employees.csv'), 'utf8');
  assert.match(hr, /,terminated,/, 'terminations in the HR history');
});

test('the DST helper finds the 2024 transitions and classifies wall times', () => {
  const from = Date.UTC(2024, 0, 1);
  const to = Date.UTC(2025, 0, 1);
  const ny = transitions('America/New_York', from, to);
  assert.deepEqual(ny.map((t) => [new Date(t.atMs).toISOString(), t.before, t.after]), [
    ['2024-03-10T07:00:00.000Z', -300, -240],
    ['2024-11-03T06:00:00.000Z', -240, -300],
  ]);
  assert.equal(classifyWallTime('America/New_York', Date.UTC(2024, 2, 10, 2, 30)), 'gap');
  assert.equal(classifyWallTime('America/New_York', Date.UTC(2024, 10, 3, 1, 30)), 'overlap');
  assert.equal(classifyWallTime('America/New_York', Date.UTC(2024, 10, 3, 3, 30)), 'normal');
  assert.equal(classifyWallTime('Asia/Kolkata', Date.UTC(2024, 2, 10, 2, 30)), 'normal');
});
