// Published files of a run: features.parquet, labels.parquet, training.parquet (and .csv on request),
// feature_schema.json and a Feast feature repository. Written into the run's temporary output folder;
// sorted rows and fixed column orders make them byte-identical for the same inputs, config and --as-of.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import type { PipelineConfig } from '../config/schema.js';
import type { FeatureSpec } from '../features/library.js';
import type { LabelSummary } from '../labels/labels.js';
import { TRAINING_ORDER, type TrainingSummary } from '../training/build.js';
import { writeFeastRepo } from './feast.js';

export async function copyToParquet(engine: Engine, select: string, file: string, params?: unknown[]): Promise<void> {
  await engine.exportTo(select, file, 'parquet', params as never);
}

/** labels.parquet: the labels of these definitions computed for asOf, in their published order. */
export async function exportLabels(engine: Engine, file: string, asOf: string, definitionHashes: string[]): Promise<void> {
  const hashes = definitionHashes.length ? engine.dialect.stringList(definitionHashes) : "''";
  await copyToParquet(
    engine,
    `SELECT label_id, label_name, definition_hash, user_id, course_id, label_value, censored, label_window_start, label_window_end, computation_date
     FROM labels WHERE computation_date = $1 AND definition_hash IN (${hashes}) ORDER BY label_name, user_id, course_id NULLS FIRST, label_window_start`,
    file,
    [asOf],
  );
}

/** The training table in its published order: splits in time order, then cutoff and learner. */
const TRAINING_ROWS = `SELECT * FROM training ORDER BY ${TRAINING_ORDER}`;

export async function writeModelingOutputs(
  engine: Engine,
  config: PipelineConfig,
  dir: string,
  ctx: { asOf: string; specs: FeatureSpec[]; labels: LabelSummary[]; training: TrainingSummary | null },
): Promise<string[]> {
  const files: string[] = [];
  const f = (name: string) => {
    const p = path.join(dir, name);
    files.push(p);
    return p;
  };
  await copyToParquet(engine, `SELECT * FROM features ORDER BY user_id, course_id NULLS FIRST, cutoff`, f('features.parquet'));
  await exportLabels(engine, f('labels.parquet'), ctx.asOf, ctx.labels.map((l) => l.definition_hash));
  if (ctx.training) {
    await copyToParquet(engine, TRAINING_ROWS, f('training.parquet'));
    if (config.training?.csv) await engine.exportTo(TRAINING_ROWS, f('training.csv'), 'csv');
  }
  const labelDefs = config.labels.map((d) => ({ ...d, definition_hash: ctx.labels.find((l) => l.name === d.name)?.definition_hash ?? null }));
  const schema = {
    as_of: ctx.asOf,
    keys: [
      { name: 'user_id', type: 'varchar', description: 'Learner pseudonym (keyed HMAC; not reversible without the key).' },
      { name: 'course_id', type: 'varchar', description: 'Course, for enrollment-relative spines; NULL otherwise.' },
      { name: 'cutoff', type: 'timestamp', description: 'Prediction time (UTC midnight). Features read only data before it; labels only after it.' },
    ],
    session_gap_minutes: config.features.session_gap_minutes,
    features: ctx.specs.map((s) => ({ name: s.name, kind: s.kind, type: s.type, description: s.description, window: s.window, window_days: s.window_days, source_tables: s.source_tables, null_policy: s.null_policy })),
    labels: labelDefs,
    training: ctx.training
      ? { label: ctx.training.label, definition_hash: ctx.training.definition_hash, columns: ctx.training.columns, split_rule: ctx.training.split_rule, imbalance: ctx.training.imbalance, sensitive_columns_included: config.training?.allow_sensitive ?? [] }
      : null,
  };
  writeFileSync(f('feature_schema.json'), JSON.stringify(schema, null, 2) + '\n');

  // A Feast repository over features.parquet: entity user_id, event time cutoff.
  const feastType = (t: FeatureSpec['type']) => (t === 'bigint' ? 'int64' : t === 'double' ? 'float64' : 'string') as 'int64' | 'float64' | 'string';
  const feastFiles = writeFeastRepo(path.join(dir, 'feast'), {
    project: config.training?.feast.project ?? 'learnpipe',
    entity: { name: 'learner', join_keys: ['user_id'], description: 'A learner (pseudonymous user_id).' },
    timestampField: 'cutoff',
    featureViews: [{ name: 'learner_activity', parquetPath: '../features.parquet', ttlDays: 365, features: ctx.specs.map((s) => ({ name: s.name, type: feastType(s.type), description: s.description })) }],
  });
  files.push(...feastFiles);
  return files;
}
