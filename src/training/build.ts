// The training table: spine ⋈ features ⋈ labels (this run's computation date, censored rows left out),
// with time-based, group-safe splits and the configured class-imbalance handling on the train split.
import type { Engine } from '../engine/engine.js';
import type { TrainingConfig } from '../config/modeling.js';
import type { FeatureSpec } from '../features/library.js';
import { balancedWeights, randomOversample, randomUndersample, smote, type ClassBalance, type Row } from './imbalance.js';

export interface SplitBalance {
  split: string;
  before: ClassBalance;
  after: ClassBalance;
}

export interface TrainingSummary {
  label: string;
  definition_hash: string;
  rows: number;
  columns: string[];
  feature_columns: string[];
  split_rule: string;
  /** Rows dropped so that no learner straddles train and test. */
  purged_rows: number;
  imbalance: string;
  balance: SplitBalance[];
}

const SPLITS = ['train', 'validation', 'test'] as const;

export async function buildTraining(engine: Engine, cfg: TrainingConfig, specs: FeatureSpec[], label: { name: string; definition_hash: string }, asOf: string): Promise<TrainingSummary> {
  const q = (n: string) => engine.dialect.quoteIdent(n);
  const sensitive = cfg.allow_sensitive;
  const featureCols = [...specs.map((s) => s.name), ...sensitive];
  await engine.run(`DROP TABLE IF EXISTS __train`);
  await engine.run(
    `CREATE TEMP TABLE __train AS
     SELECT left(sha256(f.user_id || '|' || coalesce(f.course_id, '') || '|' || CAST(f.cutoff AS VARCHAR)), 16) AS row_id,
       f.user_id, f.course_id, f.cutoff, CAST(NULL AS VARCHAR) AS split, l.label_value AS label,
       ${specs.map((s) => `f.${q(s.name)}`).join(', ')}${sensitive.length ? ', ' + sensitive.map((c) => `CASE WHEN h.effective_to IS NULL OR h.effective_to > CAST(f.cutoff AS DATE) THEN h.${c} END AS ${c}`).join(', ') : ''}
     FROM features f JOIN labels l ON l.label_name = $1 AND l.definition_hash = $2 AND l.computation_date = $3
       AND l.user_id = f.user_id AND l.course_id IS NOT DISTINCT FROM f.course_id AND l.label_window_start = f.cutoff AND NOT l.censored
     ${sensitive.length ? 'ASOF LEFT JOIN hr_records h ON h.user_id = f.user_id AND CAST(f.cutoff AS DATE) > h.effective_from' : ''}`,
    [label.name, label.definition_hash, asOf],
  );

  // Time-based split by cutoff.
  const cutoffs = (await engine.all<{ c: string }>(`SELECT DISTINCT CAST(cutoff AS DATE)::VARCHAR AS c FROM __train ORDER BY 1`)).map((r) => r.c);
  let validationFrom = cfg.split.validation_from ?? null;
  let testFrom = cfg.split.test_from ?? null;
  if (!validationFrom && !testFrom) {
    // The latest fifth of the cutoffs (at least one) is test, the fifth before it validation.
    const k = Math.max(1, Math.round(cutoffs.length * 0.2));
    if (cutoffs.length >= 3) [validationFrom, testFrom] = [cutoffs[Math.max(1, cutoffs.length - 2 * k)], cutoffs[cutoffs.length - k]];
    else if (cutoffs.length === 2) testFrom = cutoffs[1];
  }
  const vf = validationFrom ?? testFrom ?? '9999-12-31';
  const tf = testFrom ?? '9999-12-31';
  await engine.run(`UPDATE __train SET split = CASE WHEN cutoff >= CAST($2 AS TIMESTAMP) THEN 'test' WHEN cutoff >= CAST($1 AS TIMESTAMP) THEN 'validation' ELSE 'train' END`, [vf, tf]);
  let purged = 0;
  if (cfg.split.group_safe) {
    // Learner groups by a seeded hash: fixed-width hex compares like the number it spells.
    const fr = cfg.split.group_fractions;
    const hex = (f: number) => Math.min(0xffffffff, Math.floor(f * 0x100000000)).toString(16).padStart(8, '0');
    const before = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM __train`))?.n);
    await engine.run(
      `DELETE FROM __train WHERE split <> (CASE WHEN left(sha256($1 || user_id), 8) < $2 THEN 'train' WHEN left(sha256($1 || user_id), 8) < $3 THEN 'validation' ELSE 'test' END)`,
      [`${cfg.split.seed}|`, hex(fr.train), hex(fr.train + fr.validation)],
    );
    purged = before - Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM __train`))?.n);
  }
  const splitRule = `train: cutoff < ${validationFrom ?? testFrom ?? '∞'}; validation: ${validationFrom ?? '—'} ≤ cutoff < ${testFrom ?? '∞'}; test: cutoff ≥ ${testFrom ?? '—'}${cfg.split.group_safe ? `; group-safe: learners assigned to train/validation/test by seeded hash (${cfg.split.group_fractions.train}/${cfg.split.group_fractions.validation}/${cfg.split.group_fractions.test}), rows outside their learner's group dropped` : ''}`;

  const balanceOf = async (): Promise<Record<string, ClassBalance>> => {
    const out: Record<string, ClassBalance> = {};
    for (const s of SPLITS) {
      const r = await engine.one<{ n: number; p: number }>(`SELECT count(*) AS n, count(*) FILTER (WHERE label = 1) AS p FROM training_out WHERE split = $1`, [s]);
      const n = Number(r?.n ?? 0);
      const p = Number(r?.p ?? 0);
      out[s] = { rows: n, positives: p, negatives: n - p, positive_rate: n ? p / n : null };
    }
    return out;
  };

  // The output table, in a fixed column order, sorted for byte-identical files.
  const cols = ['row_id', 'user_id', 'course_id', 'cutoff', 'split', 'label', 'sample_weight', 'synthetic', ...featureCols];
  await engine.run(`CREATE OR REPLACE TABLE training_out AS SELECT row_id, user_id, course_id, cutoff, split, label, CAST(1.0 AS DOUBLE) AS sample_weight, false AS synthetic, ${featureCols.map(q).join(', ')} FROM __train`);
  const before = await balanceOf();
  const method = cfg.imbalance.method;
  if (method === 'class_weight') {
    const labels = (await engine.all<{ label: number; n: number }>(`SELECT label, count(*) AS n FROM training_out WHERE split = 'train' GROUP BY 1`)).flatMap((r) => Array(Number(r.n)).fill(Number(r.label)));
    if (labels.length && new Set(labels).size === 2) {
      const w = balancedWeights(labels);
      await engine.run(`UPDATE training_out SET sample_weight = CASE WHEN label = 1 THEN $1 ELSE $2 END WHERE split = 'train'`, [w[1], w[0]]);
    }
  } else if (method !== 'none') {
    const rows = (await engine.all(`SELECT * FROM training_out WHERE split = 'train' ORDER BY row_id`)) as Row[];
    const labels = new Set(rows.map((r) => Number(r.label)));
    if (labels.size === 2) {
      const opts = { label: 'label', seed: cfg.imbalance.seed, ratio: cfg.imbalance.ratio, idColumn: 'row_id', syntheticColumn: 'synthetic' };
      const numeric = specs.filter((s) => s.type !== 'varchar').map((s) => s.name);
      const resampled = method === 'undersample' ? randomUndersample(rows, opts) : method === 'oversample' ? randomOversample(rows, opts) : smote(rows, { ...opts, numericColumns: numeric, k: cfg.imbalance.k });
      await engine.run(`DELETE FROM training_out WHERE split = 'train'`);
      await engine.run(`DROP TABLE IF EXISTS __resampled`);
      await engine.run(`CREATE TEMP TABLE __resampled (${cols.map((c) => `${q(c)} VARCHAR`).join(', ')})`);
      const text = (v: unknown) => (v === null || v === undefined ? null : v instanceof Date ? v.toISOString().replace('T', ' ').replace('Z', '') : String(v));
      await engine.appendRows('__resampled', resampled.map((r) => cols.map((c) => text(c === 'synthetic' ? (r[c] ?? false) : r[c]))));
      const types = await engine.all<{ column_name: string; data_type: string }>(`SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'training_out'`);
      const typeOf = new Map(types.map((t) => [t.column_name, t.data_type]));
      await engine.run(`INSERT INTO training_out SELECT ${cols.map((c) => `CAST(${q(c)} AS ${typeOf.get(c)})`).join(', ')} FROM __resampled`);
      await engine.run(`DROP TABLE __resampled`);
    }
  }
  await engine.run(`CREATE OR REPLACE TABLE training AS SELECT * FROM training_out ORDER BY CASE split WHEN 'train' THEN 0 WHEN 'validation' THEN 1 ELSE 2 END, cutoff, user_id, course_id NULLS FIRST, row_id`);
  const after = await balanceOf();
  await engine.run(`DROP TABLE training_out`);
  await engine.run(`DROP TABLE IF EXISTS __train`);
  const total = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM training`))?.n);
  return {
    label: label.name,
    definition_hash: label.definition_hash,
    rows: total,
    columns: cols,
    feature_columns: featureCols,
    split_rule: splitRule,
    purged_rows: purged,
    imbalance: method,
    balance: SPLITS.map((s) => ({ split: s, before: before[s], after: after[s] })),
  };
}
