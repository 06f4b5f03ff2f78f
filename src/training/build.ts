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

/** The training table's row order (a total order: row_id is unique). Outputs sort by it too, since ClickHouse keeps no insertion order. */
export const TRAINING_ORDER = `CASE split WHEN 'train' THEN 0 WHEN 'validation' THEN 1 ELSE 2 END, cutoff, user_id, course_id NULLS FIRST, row_id`;

export async function buildTraining(engine: Engine, cfg: TrainingConfig, specs: FeatureSpec[], label: { name: string; definition_hash: string }, asOf: string): Promise<TrainingSummary> {
  const d = engine.dialect;
  const q = (n: string) => d.quoteIdent(n);
  const ts = d.sqlType('timestamp');
  const day = (e: string) => `CAST(${e} AS ${d.sqlType('date')})`;
  const sensitive = cfg.allow_sensitive;
  const featureCols = [...specs.map((s) => s.name), ...sensitive];
  await engine.run(`DROP TABLE IF EXISTS __train`);
  await engine.run(
    `CREATE TEMPORARY TABLE __train AS
     SELECT left(${d.sha256Hex(`f.user_id || '|' || coalesce(f.course_id, '') || '|' || ${d.timestampText('f.cutoff')}`)}, 16) AS row_id,
       f.user_id AS user_id, f.course_id AS course_id, f.cutoff AS cutoff, l.label_value AS label,
       ${specs.map((s) => `f.${q(s.name)} AS ${q(s.name)}`).join(', ')}${sensitive.length ? ', ' + sensitive.map((c) => `CASE WHEN h.effective_to IS NULL OR h.effective_to > ${day('f.cutoff')} THEN h.${c} END AS ${c}`).join(', ') : ''}
     FROM features f JOIN labels l ON l.label_name = $1 AND l.definition_hash = $2 AND l.computation_date = $3
       AND l.user_id = f.user_id AND l.course_id IS NOT DISTINCT FROM f.course_id AND l.label_window_start = f.cutoff AND NOT l.censored
     ${sensitive.length ? `ASOF LEFT JOIN hr_records h ON h.user_id = f.user_id AND ${day('f.cutoff')} > h.effective_from` : ''}`,
    [label.name, label.definition_hash, asOf],
  );

  // Time-based split by cutoff.
  const cutoffs = (await engine.all<{ c: string }>(`SELECT DISTINCT ${d.toText(day('cutoff'))} AS c FROM __train ORDER BY 1`)).map((r) => r.c);
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
  // Splits are computed as the rows are written (no UPDATE: ClickHouse tables cannot all be updated in place).
  const params: Array<string | number> = [vf, tf];
  const bindValue = (v: string | number) => (params.push(v), `$${params.length}`);
  const splitOf = `CASE WHEN cutoff >= CAST($2 AS ${ts}) THEN 'test' WHEN cutoff >= CAST($1 AS ${ts}) THEN 'validation' ELSE 'train' END`;
  let keep = 'true';
  let purged = 0;
  if (cfg.split.group_safe) {
    // Learner groups by a seeded hash: fixed-width hex compares like the number it spells. A row is
    // kept only where its learner's group and its cutoff's period agree.
    const fr = cfg.split.group_fractions;
    const hex = (f: number) => Math.min(0xffffffff, Math.floor(f * 0x100000000)).toString(16).padStart(8, '0');
    const g = `left(${d.sha256Hex(`${bindValue(`${cfg.split.seed}|`)} || user_id`)}, 8)`;
    keep = `split = (CASE WHEN ${g} < ${bindValue(hex(fr.train))} THEN 'train' WHEN ${g} < ${bindValue(hex(fr.train + fr.validation))} THEN 'validation' ELSE 'test' END)`;
    purged = Number((await engine.one<{ n: number }>(`SELECT count(*) FILTER (WHERE NOT (${keep})) AS n FROM (SELECT user_id, ${splitOf} AS split FROM __train) t`, params))?.n);
  }
  const splitRule = `train: cutoff < ${validationFrom ?? testFrom ?? '∞'}; validation: ${validationFrom ?? '—'} ≤ cutoff < ${testFrom ?? '∞'}; test: cutoff ≥ ${testFrom ?? '—'}${cfg.split.group_safe ? `; group-safe: learners assigned to train/validation/test by seeded hash (${cfg.split.group_fractions.train}/${cfg.split.group_fractions.validation}/${cfg.split.group_fractions.test}), rows outside their learner's group dropped` : ''}`;
  const kept = `(SELECT *, ${splitOf} AS split FROM __train) t WHERE ${keep}`;

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
  const method = cfg.imbalance.method;
  const double = d.sqlType('double');
  let weight = `CAST(1.0 AS ${double})`;
  if (method === 'class_weight') {
    const labels = (await engine.all<{ label: number; n: number }>(`SELECT label, count(*) AS n FROM ${kept} AND split = 'train' GROUP BY label`, params)).flatMap((r) => Array(Number(r.n)).fill(Number(r.label)));
    if (labels.length && new Set(labels).size === 2) {
      const w = balancedWeights(labels);
      weight = `CASE WHEN split = 'train' THEN (CASE WHEN label = 1 THEN CAST(${bindValue(w[1])} AS ${double}) ELSE CAST(${bindValue(w[0])} AS ${double}) END) ELSE ${weight} END`;
    }
  }
  await engine.run(`CREATE OR REPLACE TABLE training_out AS SELECT row_id, user_id, course_id, cutoff, split, label, ${weight} AS sample_weight, false AS synthetic, ${featureCols.map(q).join(', ')} FROM ${kept}`, params);
  await engine.run(`DROP TABLE __train`);
  const before = await balanceOf();
  if (method !== 'none' && method !== 'class_weight') {
    const rows = (await engine.all(`SELECT * FROM training_out WHERE split = 'train' ORDER BY row_id`)) as Row[];
    const labels = new Set(rows.map((r) => Number(r.label)));
    if (labels.size === 2) {
      const opts = { label: 'label', seed: cfg.imbalance.seed, ratio: cfg.imbalance.ratio, idColumn: 'row_id', syntheticColumn: 'synthetic' };
      const numeric = specs.filter((s) => s.type !== 'varchar').map((s) => s.name);
      const resampled = method === 'undersample' ? randomUndersample(rows, opts) : method === 'oversample' ? randomOversample(rows, opts) : smote(rows, { ...opts, numericColumns: numeric, k: cfg.imbalance.k });
      await engine.run(`DELETE FROM training_out WHERE split = 'train'`);
      await engine.run(`DROP TABLE IF EXISTS __resampled`);
      await engine.run(d.createTable({ name: '__resampled', description: '', key: [], columns: cols.map((name) => ({ name, type: 'varchar', nullable: true, sensitivity: 'internal', description: '' })) }, { temp: true }));
      // Integer features interpolated by SMOTE are rounded here, half away from zero (as DuckDB casts
      // '2.5' to 3), so every engine reads back a plain integer.
      const integer = new Set(specs.filter((s) => s.type === 'bigint').map((s) => s.name));
      const text = (c: string, v: unknown) =>
        v === null || v === undefined ? null : v instanceof Date ? v.toISOString().replace('T', ' ').replace('Z', '') : integer.has(c) && typeof v === 'number' ? String(Math.sign(v) * Math.round(Math.abs(v))) : String(v);
      await engine.appendRows('__resampled', resampled.map((r) => cols.map((c) => text(c, c === 'synthetic' ? (r[c] ?? false) : r[c]))));
      const types = await engine.all<{ column_name: string; data_type: string }>(`SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'training_out' AND table_schema = ${d.currentSchema()}`);
      const typeOf = new Map(types.map((t) => [t.column_name, t.data_type]));
      await engine.run(`INSERT INTO training_out SELECT ${cols.map((c) => `CAST(${q(c)} AS ${typeOf.get(c)})`).join(', ')} FROM __resampled`);
      await engine.run(`DROP TABLE __resampled`);
    }
  }
  await engine.run(`CREATE OR REPLACE TABLE training AS SELECT * FROM training_out ORDER BY ${TRAINING_ORDER}`);
  const after = await balanceOf();
  await engine.run(`DROP TABLE training_out`);
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
