// The demo end to end: generate, ingest into DuckDB, and check every load against the generator's
// ground truth exactly; then run again and check nothing changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { runDemo } from '../src/cli/demo.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import type { GroundTruth } from '../src/generate/index.js';
import { tmpDir, TEST_KEY_HEX } from './helpers/tmp.js';
import { Pseudonymizer } from '../src/privacy/pseudonym.js';

const quiet = { info() {}, warn() {}, error() {} } as never;

test('demo: every load reconciles exactly with the ground truth; a second run changes nothing', async () => {
  const dir = tmpDir();
  process.env.LEARNPIPE_PSEUDONYM_KEY = TEST_KEY_HEX;
  try {
    const first = await runDemo({ dir, users: 80, days: 70, seed: 11, start: '2024-02-01', log: quiet });
    const truth = first.summary.ground_truth as GroundTruth;
    const loads = first.summary.ingest.loads;
    assert.deepEqual(loads.map((l) => l.input).sort(), Object.keys(truth.files).map((f) => `raw/${f}`).sort());
    for (const l of loads) {
      const t = truth.files[l.input.replace(/^raw\//, '')];
      const got = { lines: l.rows_read, accepted: l.accepted, exact_duplicates: l.duplicates, conflicts: l.conflicts, rejected: l.rejected, rejects_by_reason: l.rejects_by_reason, late: l.late, dst_gap: l.dst_gap, dst_overlap: l.dst_overlap };
      const want = { lines: t.lines, accepted: t.accepted, exact_duplicates: t.exact_duplicates, conflicts: t.conflicts, rejected: t.rejected, rejects_by_reason: t.rejects_by_reason, late: t.late, dst_gap: t.dst_gap, dst_overlap: t.dst_overlap };
      assert.deepEqual(got, want, l.input);
    }

    const engine = await DuckDBEngine.open(path.join(dir, 'warehouse.duckdb'));
    try {
      // One person per LMS account, each account linked by the rule the generator planted.
      assert.equal(Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM users`))?.n), truth.identity.people);
      const rules = Object.fromEntries((await engine.all<{ r: string; n: number }>(`SELECT rule AS r, count(*) AS n FROM identity_map WHERE key_kind = 'moodle_id' GROUP BY 1`)).map((r) => [r.r, Number(r.n)]));
      assert.deepEqual(rules, Object.fromEntries(Object.entries(truth.identity.by_rule).filter(([, n]) => n > 0)));
      // No raw identifier reaches the warehouse.
      const leaks = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events WHERE user_id LIKE '%@%' OR user_id SIMILAR TO '[0-9]+'`);
      assert.equal(Number(leaks?.n), 0);
      // The renamed course keeps its id and both names.
      const names = await engine.all<{ name: string }>(`SELECT DISTINCT name FROM content_names WHERE object_id = $1 ORDER BY name`, [truth.content.renamed.object_id]);
      assert.deepEqual(names.map((n) => n.name), [truth.content.renamed.to, truth.content.renamed.from].sort());
      // The mobile app's titles meet under the alias.
      const mobile = await engine.all<{ name: string }>(`SELECT DISTINCT name FROM content_names WHERE object_id = 'name:data privacy 101' ORDER BY name`);
      assert.deepEqual(mobile.map((n) => n.name), ['Data Privacy 101', 'Data Protection Essentials']);

      // The training table carries the planted signal: learners whose activity declines fail more.
      const pz = new Pseudonymizer(Buffer.from(TEST_KEY_HEX, 'hex'));
      await engine.run(`CREATE TEMP TABLE gt (k VARCHAR, decliner BOOLEAN)`);
      await engine.appendRows('gt', truth.people.map((p) => [pz.of('moodle_id', String(p.lms_id)), p.decliner]));
      const rates = await engine.all<{ decliner: boolean; n: number; rate: number; trend: number }>(
        `SELECT g.decliner, count(*) AS n, avg(t.label) AS rate, avg(t.trend_7d) AS trend FROM training t
         JOIN identity_map m ON m.user_id = t.user_id AND m.key_kind = 'moodle_id' JOIN gt g ON g.k = m.key_pseudonym
         WHERE NOT t.synthetic GROUP BY 1 ORDER BY 1`,
      );
      const [steady, declining] = rates;
      assert.ok(steady.n > 30 && declining.n > 10, JSON.stringify(rates));
      assert.ok(declining.rate > 2 * steady.rate, `positive rate: declining ${declining.rate} vs steady ${steady.rate}`);
      assert.ok(declining.trend < steady.trend);
    } finally {
      await engine.close();
    }

    const before = await counts(dir);
    const outBefore = digest(path.join(dir, 'out'));
    for (const f of ['features.parquet', 'labels.parquet', 'training.parquet', 'training.csv', 'feature_schema.json', 'feast/feature_store.yaml', 'feast/features.py', 'reconciliation.json', 'qa.json', 'report.html', 'manifest.json']) assert.ok(outBefore[f], f);
    const second = await runDemo({ dir, users: 80, days: 70, seed: 11, start: '2024-02-01', log: quiet });
    assert.equal(second.summary.ingest.totals.files_loaded, 0);
    assert.equal(second.summary.ingest.totals.files_skipped, loads.length);
    assert.deepEqual(await counts(dir), before);
    // A re-run in place republishes byte-identical data; only the run's own description (its manifest
    // records the watermarks it started from) may differ.
    const data = (d: Record<string, string>) => Object.fromEntries(Object.entries(d).filter(([f]) => !['manifest.json', 'report.html', 'qa.json'].includes(f)));
    assert.deepEqual(data(digest(path.join(dir, 'out'))), data(outBefore), 'same inputs, config and as-of: byte-identical outputs');
    // A fresh run elsewhere on the same inputs, config and as-of: every file byte-identical, manifest included.
    const other = tmpDir();
    await runDemo({ dir: other, users: 80, days: 70, seed: 11, start: '2024-02-01', log: quiet });
    assert.deepEqual(digest(path.join(other, 'out')), outBefore);
  } finally {
    delete process.env.LEARNPIPE_PSEUDONYM_KEY;
  }
});

function digest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath, e.name);
    out[path.relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return out;
}

async function counts(dir: string): Promise<Record<string, number>> {
  const engine = await DuckDBEngine.open(path.join(dir, 'warehouse.duckdb'));
  try {
    const out: Record<string, number> = {};
    for (const t of ['events', 'users', 'enrollments', 'assessments', 'content', 'content_names', 'hr_records', 'rejects', 'loads', 'user_day', 'sessions', 'labels', 'training']) out[t] = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM ${t}`))?.n);
    return out;
  } finally {
    await engine.close();
  }
}
