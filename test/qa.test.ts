// The QA gate: checks made to fail on purpose block publishing and leave the previous outputs as they
// were; the manifest round-trips through verify and replay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runDemo } from '../src/cli/demo.js';
import { loadConfig } from '../src/config/load.js';
import { QaBlockedError, runPipeline, openWarehouse } from '../src/pipeline.js';
import { runQaChecks } from '../src/quality/checks.js';
import { resolveFeatures } from '../src/features/library.js';
import { verifyManifest } from '../src/quality/manifest.js';
import { listRuns, replayRun } from '../src/quality/history.js';
import { tmpDir, TEST_KEY_HEX } from './helpers/tmp.js';

const quiet = { info() {}, warn() {} };

function digest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[path.relative(dir, path.join(e.parentPath, e.name))] = createHash('sha256').update(readFileSync(path.join(e.parentPath, e.name))).digest('hex');
  }
  return out;
}

async function blocked(p: Promise<unknown>): Promise<QaBlockedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof QaBlockedError) return err;
    throw err;
  }
  assert.fail('the run was not blocked');
}

test('the QA gate blocks stale sources, duplicated keys and drifted features; outputs survive; manifests verify and replay', async () => {
  process.env.LEARNPIPE_PSEUDONYM_KEY = TEST_KEY_HEX;
  try {
    const dir = tmpDir();
    const first = await runDemo({ dir, users: 60, days: 70, seed: 5, start: '2024-02-01', log: quiet });
    const asOf = '2024-04-11';
    assert.equal(first.summary.qa.filter((q) => q.status === 'fail' && q.severity === 'error').length, 0);
    const out = path.join(dir, 'out');
    const published = digest(out);
    const config = path.join(dir, 'pipeline.yaml');

    // 1. A stale source: --as-of a month after the newest event.
    const stale = await blocked(runPipeline(loadConfig(config), { asOf: '2024-05-20' }));
    assert.ok(stale.failures.some((f) => f.check_name === 'freshness' && f.subject === 'moodle_log' && Number(f.value) > 7), stale.message);
    assert.match(stale.message, /freshness · moodle_log: [\d.]+ \(threshold <= 7 days\)/);
    assert.ok(existsSync(path.join(stale.runDir, 'qa.json')) && existsSync(path.join(stale.runDir, 'report.html')));
    assert.deepEqual(digest(out), published, 'a blocked run publishes nothing');

    // 2. A duplicated key in a canonical table.
    let engine = await openWarehouse(loadConfig(config));
    await engine.run(`INSERT INTO events SELECT * FROM events LIMIT 1`);
    await engine.close();
    const dup = await blocked(runPipeline(loadConfig(config), { asOf }));
    assert.ok(dup.failures.some((f) => f.check_name === 'key_uniqueness' && f.subject === 'events(event_id)' && f.value === 1), dup.message);
    assert.deepEqual(digest(out), published);
    engine = await openWarehouse(loadConfig(config));
    await engine.run(`CREATE TEMP TABLE one AS SELECT DISTINCT * FROM events`);
    await engine.run(`DELETE FROM events`);
    await engine.run(`INSERT INTO events SELECT * FROM one`);

    // 3. A leaking feature: counts that include events at or after the cutoff.
    await engine.run(`UPDATE features SET total_events = total_events + 1`);
    const loaded = loadConfig(config);
    const specs = resolveFeatures(loaded.config.features.definitions);
    const qa = await runQaChecks(engine, loaded.config, loaded.config.qa, { asOf, modeling: first.summary.modeling, specs, previousFeatures: null, previousEventCount: null });
    assert.ok(qa.some((q) => q.check_name === 'leakage' && q.status === 'fail' && q.severity === 'error' && Number(q.value) > 0));
    await engine.close();

    // 4. A drifted feature, with drift made blocking: a later cutoff grid shifts every distribution.
    appendFileSync(config, `\nqa:\n  severity: { feature_drift: error }\n  psi_max: 0.05\n  freshness_max_days: 60\n`);
    writeFileSync(config, readFileSync(config, 'utf8').replace(/every: \{ days: 7, from: [\d-]+,/, 'every: { days: 7, from: 2024-03-20,'));
    const drift = await blocked(runPipeline(loadConfig(config), { asOf }));
    assert.ok(drift.failures.some((f) => f.check_name === 'feature_drift' && Number(f.value) > 0.05), drift.message);
    assert.deepEqual(digest(out), published);

    // The published run's manifest verifies, and a tampered file is caught.
    const manifest = path.join(out, 'manifest.json');
    assert.equal((await verifyManifest(manifest)).ok, true);
    const runs = await listRuns(loadConfig(config));
    assert.deepEqual(runs.map((r) => r.status).sort(), ['blocked', 'blocked', 'blocked', 'published']);
    // Replay needs the config the run used.
    await assert.rejects(replayRun(loadConfig(config), first.summary.run_id), /the config changed since run/);
    writeFileSync(config, readFileSync(config, 'utf8').replace(/\nqa:[\s\S]*$/, '\n').replace('from: 2024-03-20,', 'from: 2024-02-29,'));
    const replay = await replayRun(loadConfig(config), first.summary.run_id);
    assert.ok(replay.compared >= 7);
    assert.deepEqual(replay.different, [], 'replay rebuilds byte-identical outputs');
    writeFileSync(path.join(out, 'training.csv'), readFileSync(path.join(out, 'training.csv'), 'utf8') + '\n');
    const tampered = await verifyManifest(manifest);
    assert.deepEqual([tampered.ok, tampered.changed], [false, ['training.csv']]);
  } finally {
    delete process.env.LEARNPIPE_PSEUDONYM_KEY;
  }
});
