// Debezium change events (the Postgres connector's envelope: {before, after, op, source}), one JSON
// envelope per line, optionally wrapped in {schema, payload}: applied like logical-replication
// changes. Each file is applied in one transaction and skipped once loaded (by content hash); events
// at or before the last applied LSN are skipped, so files replayed by Kafka apply nothing twice.
import { readFileSync } from 'node:fs';
import type { Engine } from '../../engine/engine.js';
import type { LoadedConfig } from '../../config/load.js';
import type { DebeziumSourceConfig } from '../../config/schema.js';
import type { Pseudonymizer } from '../../privacy/pseudonym.js';
import type { Vault } from '../../privacy/vault.js';
import { nextLoadId, type LoadResult } from '../../normalize/load.js';
import { listSourceFiles, sha256File, SourceReadError } from '../files.js';
import { applyChanges, type RowChange } from './apply.js';
import { readPosition, savePosition, type TextRow } from './landing.js';

interface Envelope {
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
  op?: string;
  source?: { lsn?: number | string; table?: string; schema?: string; ts_ms?: number };
}

/** A Debezium value as the text Postgres would show (numbers and booleans as written; structures as JSON). */
function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function toRow(r: Record<string, unknown>): TextRow {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, text(v)]));
}

export interface BadLine {
  line: number;
  raw: string;
  detail: string;
}

/** Parses one file into changes for `table`; lines that are not envelopes are returned as bad lines. */
export function parseDebezium(textContent: string, relPath: string, table: string, after: bigint | null): { changes: RowChange[]; bad: BadLine[]; lastLsn: bigint | null; skipped: number } {
  const changes: RowChange[] = [];
  const bad: BadLine[] = [];
  let lastLsn: bigint | null = null;
  let skipped = 0;
  const lines = textContent.split('\n');
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (!raw.trim()) return; // blank lines and the end of the file
    let env: Envelope;
    try {
      const parsed = JSON.parse(raw);
      env = parsed && typeof parsed === 'object' && 'payload' in parsed ? parsed.payload : parsed;
    } catch {
      bad.push({ line, raw, detail: 'not a JSON object' });
      return;
    }
    if (env === null) return; // a Kafka tombstone: nothing to apply
    const op = env?.op;
    const src = env?.source ?? {};
    const name = src.schema ? `${src.schema}.${src.table}` : src.table;
    if (typeof op !== 'string' || !['c', 'u', 'd', 'r'].includes(op)) {
      bad.push({ line, raw, detail: `op ${JSON.stringify(op)} is not one of c, u, d, r` });
      return;
    }
    if (src.table !== table && name !== table) return; // another table's events
    let lsn: bigint | null = null;
    if (src.lsn !== undefined && src.lsn !== null) {
      try {
        lsn = BigInt(src.lsn);
      } catch {
        bad.push({ line, raw, detail: `source.lsn ${JSON.stringify(src.lsn)} is not a number` });
        return;
      }
    }
    // Snapshot reads (op r) share the snapshot's LSN; only streamed changes are ordered by it.
    if (op !== 'r' && lsn !== null && after !== null && lsn <= after) {
      skipped++;
      return;
    }
    const where = `${relPath}:${line}`;
    if (op === 'd') {
      if (!env.before) return bad.push({ line, raw, detail: 'a delete without before (set REPLICA IDENTITY FULL on the table)' }), undefined;
      changes.push({ op: 'delete', row: toRow(env.before), name: where });
    } else {
      if (!env.after) return bad.push({ line, raw, detail: `op ${op} without after` }), undefined;
      if (op === 'u' && env.before) changes.push({ op: 'delete', row: toRow(env.before), name: where });
      changes.push({ op: 'upsert', row: toRow(env.after), name: where });
    }
    if (op !== 'r' && lsn !== null && (lastLsn === null || lsn > lastLsn)) lastLsn = lsn;
  });
  return { changes, bad, lastLsn, skipped };
}

export async function ingestDebeziumSource(engine: Engine, loaded: LoadedConfig, source: DebeziumSourceConfig, pz: Pseudonymizer, opts: { asOf: string | null; vault?: Vault | null }): Promise<LoadResult[]> {
  const files = listSourceFiles({ ...source, kind: 'file', format: 'jsonl' }, loaded.baseDir);
  if (!files.length) throw new SourceReadError(`source ${source.name}: no file matches ${source.path} (resolved against ${loaded.baseDir})`);
  const results: LoadResult[] = [];
  for (const file of files) {
    const sha = await sha256File(file.path);
    if (await engine.one(`SELECT 1 FROM loaded_files WHERE source = $1 AND sha256 = $2`, [source.name, sha])) continue;
    let content: string;
    try {
      content = readFileSync(file.path, 'utf8');
    } catch (err) {
      throw new SourceReadError(`source ${source.name}: cannot read ${file.relPath}: ${(err as Error).message}`, { cause: err });
    }
    await engine.transaction(async () => {
      const pos = await readPosition(engine, source.name);
      const parsed = parseDebezium(content, file.relPath, source.table, pos === null ? null : BigInt(pos));
      const applied = await applyChanges(engine, loaded, source, parsed.changes, pz, { asOf: opts.asOf, vault: opts.vault, label: 'debezium' });
      // The file itself is one load too: its bad lines are its rejects, and it is marked loaded.
      const loadId = await nextLoadId(engine);
      for (const b of parsed.bad) {
        await engine.run(`INSERT INTO rejects (source, load_id, location, reason, field, detail, raw) VALUES ($1, $2, $3, 'malformed_line', NULL, $4, $5)`, [source.name, loadId, `${file.relPath}:${b.line}`, b.detail, b.raw.slice(0, 2000)]);
      }
      const r: LoadResult = {
        load_id: loadId, source: source.name, input: file.relPath, sha256: sha, target: source.target,
        rows_read: parsed.bad.length, accepted: 0, duplicates: 0, conflicts: 0, rejected: parsed.bad.length,
        dst_gap: 0, dst_overlap: 0, late: 0, watermark_before: null, watermark_after: null, min_event_time: null, pii_redacted: 0,
        rejects_by_reason: parsed.bad.length ? { malformed_line: parsed.bad.length } : {},
      };
      await engine.run(
        `INSERT INTO loads (load_id, source, input, sha256, as_of, rows_read, accepted, duplicates, conflicts, rejected, dst_gap, dst_overlap, late, target)
         VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, $7, 0, 0, 0, $8)`,
        [loadId, source.name, file.relPath, sha, opts.asOf, r.rows_read, r.rejected, source.target],
      );
      await engine.run(`INSERT INTO loaded_files VALUES ($1, $2, $3, $4)`, [source.name, file.relPath, sha, loadId]);
      if (parsed.lastLsn !== null) await savePosition(engine, source.name, parsed.lastLsn.toString(), 'lsn', loadId);
      results.push(...applied.loads, r);
    });
  }
  return results;
}
