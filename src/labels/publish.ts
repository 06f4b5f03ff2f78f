// `learnpipe labels`: recompute labels over the spine of the last run and republish labels.parquet.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { resolvePath, type LoadedConfig } from '../config/load.js';
import { openWarehouse } from '../pipeline.js';
import { exportLabels } from '../exports/outputs.js';
import { computeLabels, type LabelSummary } from './labels.js';

export async function recomputeLabels(loaded: LoadedConfig, asOf: string, only?: string[]): Promise<{ labels: LabelSummary[]; file: string }> {
  const defs = loaded.config.labels.filter((l) => !only || only.includes(l.name));
  const unknown = (only ?? []).filter((n) => !loaded.config.labels.some((l) => l.name === n));
  if (unknown.length) throw new Error(`unknown label(s): ${unknown.join(', ')}; configured: ${loaded.config.labels.map((l) => l.name).join(', ') || '(none)'}`);
  const engine = await openWarehouse(loaded);
  try {
    const spine = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM spine`);
    if (!Number(spine?.n)) throw new Error('the spine is empty: run `learnpipe run` first (labels are computed over its spine)');
    const labels = await computeLabels(engine, defs, asOf);
    const outDir = resolvePath(loaded, loaded.config.output_dir);
    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, 'labels.parquet');
    const tmp = `${file}.tmp-${process.pid}`;
    await exportLabels(engine, tmp, asOf, labels.map((l) => l.definition_hash));
    if (existsSync(file)) rmSync(file);
    renameSync(tmp, file);
    return { labels, file };
  } finally {
    await engine.close();
  }
}
