// Runs the stages in order: open the warehouse → ingest and normalise → (features, labels, training
// table when configured) → publish outputs. Outputs are written to a temporary folder next to the
// output folder and swapped into place only when everything succeeded.
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EngineSetupError, type Engine } from './engine/engine.js';
import { DuckDBEngine } from './engine/duckdb.js';
import { ClickHouseEngine } from './engine/clickhouse.js';
import { resolvePath, type LoadedConfig } from './config/load.js';
import { ensureWarehouse } from './schema/warehouse.js';
import { KeyError, loadKey } from './privacy/keys.js';
import { loadVaultKey, Vault } from './privacy/vault.js';
import { Pseudonymizer } from './privacy/pseudonym.js';
import { emptyIngestSummary, ingest, type IngestProgress, type IngestSummary } from './normalize/ingest.js';
import { buildModelingTables, type ModelingSummary, type StageLog } from './modeling.js';
import { writeModelingOutputs } from './exports/outputs.js';
import type { FeatureSpec } from './features/library.js';
import { qaBlocked, runQaChecks, type QaResult } from './quality/checks.js';
import { currentWatermarks, previousEventCount, recordRun, runIdFor, storeQaResults, writeRunRecord } from './quality/run-record.js';
import { configHash } from './quality/manifest.js';
import type { RunReport } from './quality/report-model.js';
import { evaluateTrainingTable } from './model/evaluate.js';
import { ModelError } from './model/types.js';

/** The QA gate blocked the run: nothing was published. */
export class QaBlockedError extends Error {
  constructor(readonly failures: QaResult[], readonly runDir: string, readonly runId: string) {
    super(
      `the QA gate blocked run ${runId}: ${failures.length} check(s) failed, nothing was published (previous outputs are unchanged)\n` +
        failures.map((f) => `  ✗ ${f.check_name} · ${f.subject}: ${f.value ?? '—'} (threshold ${f.threshold ?? '—'})${f.detail ? ` — ${f.detail}` : ''}`).join('\n') +
        `\nQA results and the report: ${runDir}`,
    );
  }
}

export interface RunOptions {
  /** The logical run date (YYYY-MM-DD or an ISO timestamp): nothing in the outputs depends on the wall clock. */
  asOf: string;
  sources?: string[];
  /** false: build from the canonical tables as they are, loading nothing (run --no-ingest). */
  ingest?: boolean;
  progress?: IngestProgress;
  log?: StageLog;
}

export interface RunSummary {
  as_of: string;
  warehouse: string;
  output_dir: string;
  ingest: IngestSummary;
  /** Features, labels and the training table (null when the config has no spine). */
  modeling: ModelingSummary | null;
  run_id: string;
  qa: QaResult[];
  /** The baseline model's headline figures (when training.evaluate is on), or why it was skipped. */
  evaluation: { test_roc_auc?: number | null; test_prevalence?: number; skipped?: string } | null;
  outputs: string[];
}

/** chdb's data folder: engine.clickhouse.path, or the warehouse path with .chdb for .duckdb. */
export function chdbPath(loaded: LoadedConfig): string {
  return resolvePath(loaded, loaded.config.engine.clickhouse.path ?? loaded.config.warehouse.replace(/\.duckdb$/, '') + '.chdb');
}

/** Whether the configured engine is a ClickHouse server (not chdb in-process). */
export function clickhouseServerUrl(loaded: LoadedConfig): string | undefined {
  return loaded.config.engine.kind === 'clickhouse' ? (loaded.config.engine.clickhouse.url ?? process.env.LEARNPIPE_CLICKHOUSE_URL) : undefined;
}

/** Opens the configured engine (DuckDB by default, ClickHouse when engine.kind says so) without touching the schema. */
export async function openEngine(loaded: LoadedConfig): Promise<Engine> {
  const e = loaded.config.engine;
  if (e.kind === 'clickhouse') {
    const ch = e.clickhouse;
    const url = clickhouseServerUrl(loaded);
    if (url) return ClickHouseEngine.open({ mode: 'server', url, database: ch.database, username: ch.user, password: process.env[ch.password_env] ?? '', cluster: ch.cluster ?? null });
    const dir = chdbPath(loaded);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return ClickHouseEngine.open({ mode: 'chdb', path: dir });
  }
  const file = resolvePath(loaded, loaded.config.warehouse);
  mkdirSync(path.dirname(file), { recursive: true });
  const engine = await DuckDBEngine.open(file, { threads: e.threads, memoryLimit: e.memory_limit });
  if (existsSync(file)) chmodSync(file, 0o600); // learning and HR data: owner only
  return engine;
}

/** Opens the warehouse for a command that runs on DuckDB only so far (privacy commands, CDC): a clear refusal elsewhere. */
export async function openDuckDBWarehouse(loaded: LoadedConfig, what: string): Promise<Engine> {
  if (loaded.config.engine.kind !== 'duckdb') throw new EngineSetupError(`${what} runs on DuckDB only in this release (engine.kind is ${loaded.config.engine.kind}; docs/engines.md, "What runs where")`);
  return openWarehouse(loaded);
}

export async function openWarehouse(loaded: LoadedConfig): Promise<Engine> {
  const engine = await openEngine(loaded);
  try {
    await ensureWarehouse(engine);
  } catch (err) {
    await engine.close();
    throw err;
  }
  return engine;
}

export function pseudonymizerFor(loaded: LoadedConfig): Pseudonymizer {
  return new Pseudonymizer(loadKey(loaded.config.keys.pseudonym, loaded.baseDir, 'pseudonym'));
}

/**
 * The PII vault. Required when a source names pii_columns (a missing key is an error that says how to
 * create one); otherwise opened when its key is there, so pseudonyms stay reversible for key holders.
 */
export function openVault(loaded: LoadedConfig): Vault | null {
  const needed = loaded.config.sources.some((s) => s.pii_columns.length > 0);
  let key: Buffer;
  try {
    key = loadVaultKey(loaded.config.keys.vault, loaded.baseDir, loadKey(loaded.config.keys.pseudonym, loaded.baseDir, 'pseudonym'));
  } catch (err) {
    if (needed || !(err instanceof KeyError)) throw err;
    return null;
  }
  return Vault.open(resolvePath(loaded, loaded.config.privacy.vault), key);
}

/** Ingests all sources (no outputs published). */
export async function runIngest(loaded: LoadedConfig, opts: Omit<RunOptions, 'asOf'> & { asOf?: string }): Promise<{ summary: IngestSummary; warehouse: string }> {
  const pz = pseudonymizerFor(loaded);
  const vault = openVault(loaded);
  const engine = await openWarehouse(loaded);
  try {
    const summary = await ingest(engine, loaded, pz, { asOf: opts.asOf ?? null, sources: opts.sources, progress: opts.progress, vault });
    return { summary, warehouse: engine.location };
  } finally {
    await engine.close();
  }
}

/** Writes files into a fresh temp folder, then swaps it in place of `outDir` in two renames. */
export async function publishAtomically(outDir: string, write: (tmpDir: string) => Promise<string[]>): Promise<string[]> {
  const parent = path.dirname(outDir);
  mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(outDir)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  let files: string[];
  try {
    files = await write(tmp);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const old = path.join(parent, `.${path.basename(outDir)}.old-${process.pid}`);
  if (existsSync(outDir)) renameSync(outDir, old);
  renameSync(tmp, outDir);
  rmSync(old, { recursive: true, force: true });
  return files.map((f) => path.join(outDir, path.relative(tmp, f)));
}

/** Cumulative reconciliation per input file, from the warehouse (so re-runs publish the same bytes). */
export async function reconciliation(engine: Engine) {
  const rows = await engine.all(`SELECT source, target, input, sha256, rows_read, accepted, duplicates, conflicts, rejected, dst_gap, dst_overlap, late
    FROM loads ORDER BY source, input, load_id`);
  const rejects = await engine.all(`SELECT source, reason, count(*) AS n FROM rejects GROUP BY 1, 2 ORDER BY 1, 2`);
  return { loads: rows, rejects_by_reason: rejects };
}

/** The data files of a run (everything but qa.json, report.html and manifest.json). */
export async function writeDataOutputs(engine: Engine, loaded: LoadedConfig, dir: string, asOf: string, modeling: { summary: ModelingSummary; specs: FeatureSpec[] } | null): Promise<string[]> {
  const file = path.join(dir, 'reconciliation.json');
  writeFileSync(file, JSON.stringify({ as_of: asOf, ...(await reconciliation(engine)) }, null, 2) + '\n');
  const files = [file];
  if (modeling) files.push(...(await writeModelingOutputs(engine, loaded.config, dir, { asOf, specs: modeling.specs, labels: modeling.summary.labels, training: modeling.summary.training })));
  return files;
}

export async function runPipeline(loaded: LoadedConfig, opts: RunOptions): Promise<RunSummary> {
  const pz = pseudonymizerFor(loaded);
  const vault = openVault(loaded);
  const engine = await openWarehouse(loaded);
  try {
    const watermarksBefore = await currentWatermarks(engine);
    const summary = opts.ingest === false ? emptyIngestSummary() : await ingest(engine, loaded, pz, { asOf: opts.asOf, sources: opts.sources, progress: opts.progress, vault });
    const modeling = await buildModelingTables(engine, loaded.config, opts.asOf, opts.log);
    const outDir = resolvePath(loaded, loaded.config.output_dir);
    const runId = await runIdFor(engine, loaded.config, opts.asOf);
    const specs = modeling?.specs ?? [];

    // The QA gate, before anything is published.
    opts.log?.info('stage.start', { stage: 'qa' });
    const previousFeatures = path.join(outDir, 'features.parquet');
    const qa = await runQaChecks(engine, loaded.config, loaded.config.qa, {
      asOf: opts.asOf,
      modeling: modeling?.summary ?? null,
      specs,
      previousFeatures: existsSync(previousFeatures) ? previousFeatures : null,
      previousEventCount: await previousEventCount(engine, runId),
    });
    const failures = loaded.config.qa.enabled ? qaBlocked(qa) : [];
    opts.log?.info('stage.done', { stage: 'qa', checks: qa.length, failed: qa.filter((q) => q.status === 'fail').length, blocking: failures.length });
    const record = { runId, asOf: opts.asOf, config: loaded.config, ingest: summary, modeling: modeling?.summary ?? null, specs, qa, watermarksBefore };
    if (failures.length) {
      // Blocked: the QA results and the report go to the run's own folder; output_dir is not touched.
      // Each blocked attempt keeps its own record (it never replaces a published run of the same id).
      const attempts = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM runs WHERE run_id LIKE $1`, [`${runId}-blocked-%`]))?.n ?? 0);
      const blockedId = `${runId}-blocked-${attempts + 1}`;
      const runDir = path.join(path.dirname(resolvePath(loaded, loaded.config.warehouse)), 'runs', blockedId);
      rmSync(runDir, { recursive: true, force: true });
      await storeQaResults(engine, blockedId, qa);
      const { manifest } = await writeRunRecord(engine, runDir, { ...record, runId: blockedId, dataFiles: [], blocked: true });
      await recordRun(engine, blockedId, opts.asOf, 'blocked', configHash(loaded.config), manifest);
      throw new QaBlockedError(failures, runDir, blockedId);
    }
    await storeQaResults(engine, runId, qa);
    let manifest = null;
    let evaluation: RunSummary['evaluation'] = null;
    const outputs = await publishAtomically(outDir, async (tmp) => {
      const files = await writeDataOutputs(engine, loaded, tmp, opts.asOf, modeling);
      // The calibrated baseline, when configured: its files are outputs and its charts go in the report.
      let model: RunReport['model'];
      const ev = loaded.config.training?.evaluate;
      if (ev?.enabled && modeling?.summary.training) {
        opts.log?.info('stage.start', { stage: 'evaluate' });
        try {
          const r = await evaluateTrainingTable({ trainingParquet: path.join(tmp, 'training.parquet'), outDir: tmp, config: { loss: ev.loss, class_weight: ev.class_weight, l2: ev.l2, calibration: ev.calibration } });
          files.push(path.join(tmp, 'evaluation.json'), path.join(tmp, 'model.json'));
          model = r.report;
          evaluation = { test_roc_auc: r.evaluation.test.uncalibrated.rocAuc, test_prevalence: r.evaluation.splits.test.prevalence };
        } catch (err) {
          // Too little data to fit (an empty split): the run still publishes, and says why.
          if (!(err instanceof ModelError)) throw err;
          evaluation = { skipped: err.message };
        }
        opts.log?.info('stage.done', { stage: 'evaluate' });
      }
      const r = await writeRunRecord(engine, tmp, { ...record, dataFiles: files, blocked: false, model });
      manifest = r.manifest;
      return [...files, ...r.files];
    });
    await recordRun(engine, runId, opts.asOf, 'published', configHash(loaded.config), manifest);
    return { as_of: opts.asOf, warehouse: engine.location, output_dir: outDir, ingest: summary, modeling: modeling?.summary ?? null, run_id: runId, qa, evaluation, outputs };
  } finally {
    await engine.close();
  }
}
