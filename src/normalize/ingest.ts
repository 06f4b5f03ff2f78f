// Ingests every configured source: each new file is loaded in its own transaction (so a crash loses at
// most the file in flight, and the next run loads it again); files already loaded, by content hash,
// are skipped. Afterwards the users table is rebuilt from identities and HR history.
import { EngineSetupError, type Engine } from '../engine/engine.js';
import type { LoadedConfig } from '../config/load.js';
import type { Pseudonymizer } from '../privacy/pseudonym.js';
import { listSourceFiles, sha256File, SourceReadError } from '../sources/files.js';
import { loadFile, nextLoadId, stageFile, type LoadResult } from './load.js';
import { matchRates, rebuildUsers, unmatchedIdentities, type MatchRate, type UnmatchedIdentity } from './identity.js';
import { connectorLoads, ingestConnector } from '../sources/xapi/connector.js';
import type { Vault } from '../privacy/vault.js';
import { checkWarehouseKey } from '../privacy/rotate.js';
import { ingestDatabaseSource } from '../sources/postgres/index.js';

export interface IngestProgress {
  /** Called when a file starts, while it loads (with engine progress), and when it ends. */
  onFileStart?(info: { source: string; file: string; index: number; total: number; bytes: number }): void;
  onTick?(info: { percentage: number; rowsProcessed: number }): void;
  onFileDone?(result: LoadResult): void;
  onSkip?(info: { source: string; file: string; reason: string }): void;
}

export interface SourceSummary {
  source: string;
  target: string;
  files_loaded: number;
  files_skipped: number;
  rows_read: number;
  accepted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  dst_gap: number;
  dst_overlap: number;
  late: number;
  rejects_by_reason: Record<string, number>;
  /** read = accepted + duplicates + rejected, checked for every load. */
  reconciled: boolean;
  /** xAPI / Caliper connectors (events row): statements read (voiding ones included), voiding statements, events they removed. */
  statements?: number;
  voiding?: number;
  voided?: number;
}

export interface IngestSummary {
  loads: LoadResult[];
  sources: SourceSummary[];
  totals: Omit<SourceSummary, 'source' | 'target' | 'rejects_by_reason' | 'reconciled' | 'files_skipped'> & { files_skipped: number; reconciled: boolean };
  match_rates: MatchRate[];
  /** Keys no rule linked to an HR person, by pseudonym (listed rather than dropped). */
  unmatched: UnmatchedIdentity[];
  /** Earliest event time among rows accepted in this run (null when nothing new). */
  affected_from: string | null;
}

/** The summary of a run that loaded nothing (run --no-ingest). */
export function emptyIngestSummary(): IngestSummary {
  return {
    loads: [],
    sources: [],
    totals: { files_loaded: 0, files_skipped: 0, rows_read: 0, accepted: 0, duplicates: 0, conflicts: 0, rejected: 0, dst_gap: 0, dst_overlap: 0, late: 0, reconciled: true },
    match_rates: [],
    unmatched: [],
    affected_from: null,
  };
}

export async function ingest(engine: Engine, loaded: LoadedConfig, pz: Pseudonymizer, opts: { asOf?: string | null; sources?: string[]; progress?: IngestProgress; vault?: Vault | null } = {}): Promise<IngestSummary> {
  const { config, baseDir } = loaded;
  const sources = config.sources.filter((s) => !opts.sources || opts.sources.includes(s.name));
  const connectors = config.connectors.filter((s) => !opts.sources || opts.sources.includes(s.name));
  if (opts.sources) {
    const all = [...config.sources, ...config.connectors].map((s) => s.name);
    const unknown = opts.sources.filter((n) => !all.includes(n));
    if (unknown.length) throw new Error(`unknown source(s): ${unknown.join(', ')}; configured: ${all.join(', ')}`);
  }
  if (engine.dialect.name !== 'duckdb') {
    // File sources are read and normalised by any engine that reads local files (DuckDB, chdb);
    // connectors and database sources still load through DuckDB only (docs/engines.md).
    const other = [...sources.filter((s) => s.kind !== 'file').map((s) => `${s.name} (${s.kind})`), ...connectors.map((c) => `${c.name} (${c.kind})`)];
    const copy = `ingest with DuckDB (\`learnpipe ingest\`) and copy with \`learnpipe copy-to-clickhouse\`, then \`learnpipe run --engine clickhouse --no-ingest\``;
    if (other.length) {
      throw new EngineSetupError(`ingestion into ${engine.dialect.name} reads file sources only; ${other.join(', ')} load through DuckDB: ${copy} (or ingest only the file sources: \`learnpipe ingest --source <name>…\`)`);
    }
    if (sources.length && engine.readsLocalFiles === false) {
      throw new EngineSetupError(
        `a ClickHouse server (${engine.location}) cannot read this machine's source files: ingest in-process with chdb (engine.clickhouse without a url) and copy the tables, or ${copy}`,
      );
    }
  }
  // Without transactions a crash can leave rows of a load that was never recorded (loads is written
  // last): they are removed before loading again, so the next load (same id) starts clean.
  if (!engine.dialect.hasTransactions()) await removeUnrecordedLoads(engine);
  // HR and user directories first, so events resolve to people on first load (order does not change
  // the final result: identities are re-resolved after every load).
  const order = { hr_records: 0, users: 1, enrollments: 2, assessments: 3, events: 4 } as const;
  const ordered = [...sources].sort((a, b) => order[a.target] - order[b.target]);
  await engine.run(`CREATE TEMPORARY TABLE IF NOT EXISTS __zones AS ${engine.dialect.timeZoneNames()}`);
  // A warehouse built with one pseudonym key refuses another (after a rotation, the old one).
  await checkWarehouseKey(engine, pz, { record: true });

  const loads: LoadResult[] = [];
  const summaries: SourceSummary[] = [];
  const plan = ordered.map((s) => ({ source: s, files: s.kind === 'file' ? listSourceFiles(s, baseDir) : [] }));
  // Progress is tracked only while a progress bar shows it (it costs the engine time on every statement).
  const tracking = Boolean(opts.progress?.onTick && engine.trackProgress);
  if (tracking) await engine.trackProgress!(true);
  const total = plan.reduce((n, p) => n + p.files.length, 0);
  let index = 0;
  for (const { source, files } of plan) {
    const sum: SourceSummary = { source: source.name, target: source.target, files_loaded: 0, files_skipped: 0, rows_read: 0, accepted: 0, duplicates: 0, conflicts: 0, rejected: 0, dst_gap: 0, dst_overlap: 0, late: 0, rejects_by_reason: {}, reconciled: true };
    const add = (result: LoadResult) => {
      opts.progress?.onFileDone?.(result);
      loads.push(result);
      sum.files_loaded++;
      for (const k of ['rows_read', 'accepted', 'duplicates', 'conflicts', 'rejected', 'dst_gap', 'dst_overlap', 'late'] as const) sum[k] += result[k];
      for (const [r, n] of Object.entries(result.rejects_by_reason)) sum.rejects_by_reason[r] = (sum.rejects_by_reason[r] ?? 0) + n;
      if (result.rows_read !== result.accepted + result.duplicates + result.rejected) sum.reconciled = false;
    };
    // Database and change-event sources: batches, each in its own transaction (src/sources/postgres).
    if (source.kind !== 'file') {
      for (const result of await ingestDatabaseSource(engine, loaded, source, pz, { asOf: opts.asOf ?? null, vault: opts.vault })) add(result);
      summaries.push(sum);
      continue;
    }
    if (files.length === 0) throw new SourceReadError(`source ${source.name}: no file matches ${source.path} (resolved against ${baseDir})`);
    for (const file of files) {
      index++;
      const sha = await sha256File(file.path);
      const seen = await engine.one(`SELECT load_id FROM loaded_files WHERE source = $1 AND sha256 = $2`, [source.name, sha]);
      if (seen) {
        sum.files_skipped++;
        opts.progress?.onSkip?.({ source: source.name, file: file.relPath, reason: `already loaded (load ${seen.load_id})` });
        continue;
      }
      opts.progress?.onFileStart?.({ source: source.name, file: file.relPath, index, total, bytes: file.size });
      const timer = opts.progress?.onTick
        ? setInterval(() => {
            const p = engine.progress();
            if (p && p.percentage >= 0) opts.progress!.onTick!({ percentage: p.percentage, rowsProcessed: p.rowsProcessed });
          }, 250)
        : undefined;
      let result: LoadResult;
      try {
        // The file is read and mapped before the transaction (temporary tables only), so the load's
        // passes over its rows run in parallel; see stageFile.
        await stageFile(engine, config, source, file, sha);
        result = await engine.transaction(async () => loadFile(engine, config, source, file, sha, pz, { loadId: await nextLoadId(engine), asOf: opts.asOf ?? null, vault: opts.vault }));
      } finally {
        if (timer) clearInterval(timer);
      }
      add(result);
    }
    summaries.push(sum);
  }
  if (tracking) await engine.trackProgress!(false);
  // Connectors (xAPI, Caliper) carry events and assessments: after the people directories.
  for (const c of connectors) {
    const cs = await ingestConnector(engine, loaded, c, pz, { asOf: opts.asOf ?? null, vault: opts.vault });
    const results = connectorLoads(cs);
    loads.push(...results);
    for (const target of ['events', 'assessments'] as const) {
      const mine = results.filter((r) => r.target === target);
      if (target === 'assessments' && !mine.length) continue;
      const sum: SourceSummary = { source: c.name, target, files_loaded: target === 'events' ? cs.files_loaded : 0, files_skipped: target === 'events' ? cs.files_skipped : 0, rows_read: 0, accepted: 0, duplicates: 0, conflicts: 0, rejected: 0, dst_gap: 0, dst_overlap: 0, late: 0, rejects_by_reason: {}, reconciled: true };
      for (const r of mine) {
        for (const k of ['rows_read', 'accepted', 'duplicates', 'conflicts', 'rejected', 'dst_gap', 'dst_overlap', 'late'] as const) sum[k] += r[k];
        for (const [why, n] of Object.entries(r.rejects_by_reason)) sum.rejects_by_reason[why] = (sum.rejects_by_reason[why] ?? 0) + n;
        if (r.rows_read !== r.accepted + r.duplicates + r.rejected) sum.reconciled = false;
      }
      if (target === 'events') Object.assign(sum, { statements: cs.statements, voiding: cs.voiding, voided: cs.voided });
      summaries.push(sum);
    }
  }
  await engine.transaction(() => rebuildUsers(engine));
  const totals = { files_loaded: 0, files_skipped: 0, rows_read: 0, accepted: 0, duplicates: 0, conflicts: 0, rejected: 0, dst_gap: 0, dst_overlap: 0, late: 0, reconciled: true };
  for (const s of summaries) {
    for (const k of ['files_loaded', 'files_skipped', 'rows_read', 'accepted', 'duplicates', 'conflicts', 'rejected', 'dst_gap', 'dst_overlap', 'late'] as const) totals[k] += s[k];
    totals.reconciled &&= s.reconciled;
  }
  const times = loads.filter((l) => l.target === 'events' && l.min_event_time).map((l) => l.min_event_time!).sort();
  return { loads, sources: summaries, totals, match_rates: await matchRates(engine), unmatched: await unmatchedIdentities(engine), affected_from: times[0] ?? null };
}

/** Tables whose rows carry the load that wrote them. */
const LOAD_TABLES = ['events', 'assessments', 'enrollments', 'hr_records', 'rejects', 'watermarks'];

/** Deletes rows written by loads that were never recorded in `loads` (a crash mid-load, on an engine without transactions). */
async function removeUnrecordedLoads(engine: Engine): Promise<void> {
  const last = Number((await engine.one<{ id: number }>(`SELECT coalesce(max(load_id), 0) AS id FROM loads`))?.id ?? 0);
  for (const t of LOAD_TABLES) {
    if (!(await engine.one(`SELECT 1 AS x FROM ${t} WHERE load_id > $1 LIMIT 1`, [last]))) continue;
    for (const sql of engine.dialect.deleteWhere(t, '', `load_id > $1`, ['load_id'])) await engine.run(sql, [last]);
  }
}
