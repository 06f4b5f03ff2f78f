// Run history commands: `qa` (checks alone), `runs`, `verify` and `replay`.
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { resolvePath, type LoadedConfig } from '../config/load.js';
import { DuckDBEngine } from '../engine/duckdb.js';
import { chdbPath, clickhouseServerUrl, openWarehouse, writeDataOutputs } from '../pipeline.js';
import { ClickHouseEngine } from '../engine/clickhouse.js';
import { EngineSetupError, type Engine } from '../engine/engine.js';
import { buildModelingTables } from '../modeling.js';
import { evaluateTrainingTable } from '../model/evaluate.js';
import { ModelError } from '../model/types.js';
import { resolveFeatures } from '../features/library.js';
import { definitionHash } from '../labels/labels.js';
import { runQaChecks, type QaResult } from './checks.js';
import { configHash, readManifest, type Manifest } from './manifest.js';
import { previousEventCount, runIdFor, storeQaResults } from './run-record.js';
import type { ModelingSummary } from '../modeling.js';

/** Runs the QA checks on the warehouse as it is (no ingestion, nothing rebuilt or published). */
export async function runQaOnly(loaded: LoadedConfig, asOf: string): Promise<{ run_id: string; results: QaResult[] }> {
  const engine = await openWarehouse(loaded);
  try {
    const specs = resolveFeatures(loaded.config.features.definitions);
    const hasFeatures = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'features' AND table_schema = ${engine.dialect.currentSchema()}`))?.n) > 0;
    let modeling: ModelingSummary | null = null;
    if (hasFeatures && loaded.config.spine) {
      const labels = [];
      for (const d of loaded.config.labels) {
        const h = definitionHash(d);
        const r = await engine.one<Record<string, unknown>>(
          `SELECT count(*) AS rows, count(*) FILTER (WHERE label_value = 1) AS p, count(*) FILTER (WHERE label_value = 0) AS n, count(*) FILTER (WHERE censored) AS c FROM labels WHERE definition_hash = $1 AND computation_date = $2`,
          [h, asOf],
        );
        labels.push({ name: d.name, definition_hash: h, rows: Number(r?.rows), positives: Number(r?.p), negatives: Number(r?.n), censored: Number(r?.c), not_at_risk: 0 });
      }
      const training = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'training' AND table_schema = ${engine.dialect.currentSchema()}`))?.n) > 0;
      const rows = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM features`))?.n);
      modeling = {
        tiles: { mode: 'unchanged', users: 0, events_read: 0, last_load_id: 0 },
        spine: { rows, users: 0, cutoffs: 0, first_cutoff: null, last_cutoff: null },
        features: { rows, columns: specs.map((s) => s.name), mode: 'incremental', computed: 0 },
        labels,
        training: training ? ({ label: loaded.config.training?.label ?? '' } as never) : null,
        timings: {},
      };
    }
    const runId = await runIdFor(engine, loaded.config, asOf);
    const results = await runQaChecks(engine, loaded.config, loaded.config.qa, {
      asOf,
      modeling,
      specs: modeling ? specs : [],
      previousFeatures: null,
      previousEventCount: await previousEventCount(engine, runId),
    });
    await storeQaResults(engine, runId, results);
    return { run_id: runId, results };
  } finally {
    await engine.close();
  }
}

export async function listRuns(loaded: LoadedConfig): Promise<Array<{ run_id: string; as_of: string; status: string; config_hash: string; outputs: number; failed_checks: number }>> {
  const engine = await openWarehouse(loaded);
  try {
    const rows = await engine.all<{ run_id: string; as_of: string; status: string; config_hash: string; manifest: string | null }>(`SELECT run_id, as_of, status, config_hash, CAST(manifest AS VARCHAR) AS manifest FROM runs ORDER BY as_of, run_id`);
    return rows.map((r) => {
      const m = r.manifest ? (JSON.parse(r.manifest) as Manifest) : null;
      return { run_id: r.run_id, as_of: r.as_of, status: r.status, config_hash: r.config_hash.slice(0, 12), outputs: m?.outputs.length ?? 0, failed_checks: m?.qa.filter((q) => q.status === 'fail').length ?? 0 };
    });
  } finally {
    await engine.close();
  }
}

/** Files that describe the run rather than hold its data; replay does not compare them. */
export const RUN_DESCRIPTION_FILES = ['qa.json', 'report.html', 'manifest.json'];

/**
 * Rebuilds a published run's data outputs from a copy of the warehouse cut back to the loads the run
 * had seen, with a full tile rebuild, and compares them byte for byte with the run's manifest.
 */
export async function replayRun(loaded: LoadedConfig, runId: string): Promise<{ run_id: string; compared: number; identical: string[]; different: string[]; dir: string }> {
  const source = await openWarehouse(loaded);
  let manifest: Manifest;
  try {
    const r = await source.one<{ m: string | null; status: string }>(`SELECT CAST(manifest AS VARCHAR) AS m, status FROM runs WHERE run_id = $1`, [runId]);
    if (!r) throw new Error(`no run ${runId}; \`learnpipe runs\` lists them`);
    if (r.status !== 'published' || !r.m) throw new Error(`run ${runId} was ${r.status}: it published nothing to replay`);
    manifest = JSON.parse(r.m) as Manifest;
    if (loaded.config.engine.kind === 'duckdb') await source.run('CHECKPOINT');
  } finally {
    await source.close();
  }
  if (manifest.config_hash !== configHash(loaded.config)) throw new Error(`the config changed since run ${runId} (config hash ${manifest.config_hash.slice(0, 12)} then, ${configHash(loaded.config).slice(0, 12)} now); replay needs the config the run used`);
  // The rebuild runs on a scratch copy of the warehouse: the DuckDB file, or chdb's data folder.
  if (clickhouseServerUrl(loaded)) throw new EngineSetupError('replay on a ClickHouse server is not available: it rebuilds on a scratch copy of the warehouse (DuckDB file or chdb folder)');
  const work = mkdtempSync(path.join(os.tmpdir(), 'learnpipe-replay-'));
  let copy: string;
  let engine: Engine;
  if (loaded.config.engine.kind === 'clickhouse') {
    copy = path.join(work, 'warehouse.chdb');
    cpSync(chdbPath(loaded), copy, { recursive: true });
    engine = await ClickHouseEngine.open({ mode: 'chdb', path: copy });
  } else {
    copy = path.join(work, 'warehouse.duckdb');
    copyFileSync(resolvePath(loaded, loaded.config.warehouse), copy);
    engine = await DuckDBEngine.open(copy);
  }
  try {
    // Back to the loads the run had seen (load ids are assigned in order).
    const lastLoad = manifest.inputs.length;
    for (const t of ['events', 'assessments', 'enrollments', 'hr_records', 'rejects', 'loads', 'loaded_files']) await engine.run(`DELETE FROM ${t} WHERE load_id > ${lastLoad}`);
    await engine.run(engine.dialect.deleteAll('tile_state'));
    const modeling = await buildModelingTables(engine, loaded.config, manifest.as_of);
    const out = path.join(work, 'out');
    mkdirSync(out, { recursive: true });
    await writeDataOutputs(engine, loaded, out, manifest.as_of, modeling);
    // The baseline model's files are data outputs too: refit them as the run did (seeded, so the same bytes).
    const ev = loaded.config.training?.evaluate;
    if (ev?.enabled && modeling?.summary.training) {
      try {
        await evaluateTrainingTable({ trainingParquet: path.join(out, 'training.parquet'), outDir: out, config: { loss: ev.loss, class_weight: ev.class_weight, l2: ev.l2, calibration: ev.calibration } });
      } catch (err) {
        if (!(err instanceof ModelError)) throw err;
      }
    }
    const identical: string[] = [];
    const different: string[] = [];
    for (const o of manifest.outputs.filter((x) => !RUN_DESCRIPTION_FILES.includes(x.path))) {
      const f = path.join(out, o.path);
      const h = existsSync(f) ? createHash('sha256').update(readFileSync(f)).digest('hex') : null;
      (h === o.sha256 ? identical : different).push(o.path);
    }
    return { run_id: runId, compared: identical.length + different.length, identical, different, dir: out };
  } finally {
    await engine.close();
    rmSync(copy, { recursive: true, force: true });
  }
}

export { readManifest };
