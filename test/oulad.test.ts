// The OULAD example end to end (prepare → run → evaluate → per-cutoff AUC). Needs the OULAD CSVs in
// ../shared/data/oulad (next to the repository); skips with a message where they are absent.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { CLICKSTREAM_FILES, DEFAULT_DATA, REQUIRED_FILES } from '../examples/oulad/prepare.js';
import { runOuladExample, type OuladResult } from '../examples/oulad/run.js';
import { TEST_KEY_HEX, tmpDir } from './helpers/tmp.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const missing = REQUIRED_FILES.filter((f) => !existsSync(path.join(DEFAULT_DATA, f)));
if (!CLICKSTREAM_FILES.some((f) => existsSync(path.join(DEFAULT_DATA, f)))) missing.push(CLICKSTREAM_FILES.join(' or '));
const skip = missing.length
  ? `OULAD data not found in ${DEFAULT_DATA} (missing ${missing.join(', ')}); the example needs ../shared/data/oulad next to the repository`
  : false;

/** Rows at risk and positives per cutoff for 2014J, straight from the raw CSVs (an independent count). */
async function rawCounts(): Promise<Array<{ days: number; rows: number; positives: number }>> {
  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  try {
    const f = (n: string) => `read_csv('${path.join(DEFAULT_DATA, n)}', header = true, all_varchar = true, nullstr = '')`;
    const r = await conn.runAndReadAll(`
      SELECT k AS days, count(*) AS n, count(*) FILTER (WHERE i.final_result IN ('Withdrawn', 'Fail')) AS pos
      FROM ${f('studentInfo.csv')} i JOIN ${f('studentRegistration.csv')} r USING (code_module, code_presentation, id_student),
        unnest([30, 60, 120]) AS t(k)
      WHERE i.code_presentation = '2014J'
        -- withdrawn on day d (a day offset) before day k: not at risk at the cutoff k days in
        AND NOT (i.final_result = 'Withdrawn' AND r.date_unregistration IS NOT NULL AND CAST(r.date_unregistration AS INTEGER) < k)
      GROUP BY k ORDER BY k`);
    return r.getRowObjectsJS().map((x) => ({ days: Number(x.days), rows: Number(x.n), positives: Number(x.pos) }));
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

describe('OULAD example', { skip }, () => {
  it('prepares, runs and evaluates within budget; AUC rises with the cutoff', { timeout: 180_000 }, async () => {
    process.env.LEARNPIPE_PSEUDONYM_KEY = TEST_KEY_HEX;
    const work = tmpDir('learnpipe-oulad-');
    const r: OuladResult = await runOuladExample({ work });
    // budget (issue: whole example < 60 s, peak RSS < 2 GB)
    assert.ok(r.totalSeconds < 60, `example took ${r.totalSeconds.toFixed(1)} s`);
    assert.ok(r.peakRssMb < 2048, `peak RSS ${r.peakRssMb.toFixed(0)} MB`);
    assert.deepEqual(r.stages.map((s) => s.stage), ['prepare', 'run', 'evaluate', 'score']);

    const e = r.evaluation;
    assert.equal(e.input.label, 'withdrew_or_failed');
    // 32,593 registrations × 3 cutoffs, minus those already withdrawn before a cutoff (not at risk)
    assert.ok(r.trainingRows > 70_000 && r.trainingRows < 97_779, `training rows ${r.trainingRows}`);
    assert.ok((e.test.uncalibrated.rocAuc as number) > 0.65, `test AUC ${e.test.uncalibrated.rocAuc}`);
    assert.ok(e.test.uncalibrated.brier < e.test.prevalenceBaseline.brier);

    const test = r.perOffset.filter((p) => p.split === 'test');
    assert.deepEqual(test.map((p) => p.days), [30, 60, 120]);
    for (const p of test) assert.ok((p.rocAuc as number) > 0.6, `AUC at day ${p.days}: ${p.rocAuc}`);
    assert.ok((test[2].rocAuc as number) > (test[0].rocAuc as number), 'AUC at 120 days should beat AUC at 30 days');
    // withdrawals before a cutoff are not at risk: the test rows and positives per cutoff equal a direct
    // count on the raw CSVs (2014J is the test split)
    assert.deepEqual(test.map((p) => ({ days: p.days, rows: p.rows, positives: p.positives })), await rawCounts());

    // nothing of the data lands in the repository
    assert.ok(!r.work.startsWith(repo + path.sep));
    assert.deepEqual(readdirSync(path.join(repo, 'examples', 'oulad')).filter((f) => /\.(csv|parquet|duckdb)$/.test(f)), []);
  });
});
