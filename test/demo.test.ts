// The demo end to end: generate, ingest into DuckDB, and check every load against the generator's
// ground truth exactly; then run again and check nothing changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { runDemo } from '../src/cli/demo.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import type { GroundTruth } from '../src/generate/index.js';
import { tmpDir, TEST_KEY_HEX } from './helpers/tmp.js';

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
    } finally {
      await engine.close();
    }

    const before = await counts(dir);
    const second = await runDemo({ dir, users: 80, days: 70, seed: 11, start: '2024-02-01', log: quiet });
    assert.equal(second.summary.ingest.totals.files_loaded, 0);
    assert.equal(second.summary.ingest.totals.files_skipped, loads.length);
    assert.deepEqual(await counts(dir), before);
  } finally {
    delete process.env.LEARNPIPE_PSEUDONYM_KEY;
  }
});

async function counts(dir: string): Promise<Record<string, number>> {
  const engine = await DuckDBEngine.open(path.join(dir, 'warehouse.duckdb'));
  try {
    const out: Record<string, number> = {};
    for (const t of ['events', 'users', 'enrollments', 'assessments', 'content', 'content_names', 'hr_records', 'rejects', 'loads']) out[t] = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM ${t}`))?.n);
    return out;
  } finally {
    await engine.close();
  }
}
