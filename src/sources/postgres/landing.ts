// A batch of rows from Postgres is landed as a CSV file and loaded by the file loader (loadFile), so a
// database source gets the same mapping, pseudonymisation, deduplication, rejects and bookkeeping as
// a file source. Rejects are then renamed from file:line to the row they came from (table:id=123).
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../../engine/engine.js';
import type { FileSourceConfig, PipelineConfig, SourceConfig } from '../../config/schema.js';
import type { SourceFile } from '../files.js';

export type TextRow = Record<string, string | null>;

function csvField(v: string | null | undefined): string {
  if (v === null || v === undefined) return '';
  return /[",\r\n]/.test(v) || v === '' || v.trim() !== v ? `"${v.replaceAll('"', '""')}"` : v;
}

/** The folder batches land in: next to the warehouse, landing/<source>/. */
export function landingDir(warehouseFile: string, source: string): string {
  return path.join(path.dirname(warehouseFile), 'landing', source);
}

/** Writes rows as a CSV file (header = the columns); returns the file and its sha256. */
export function landCsv(file: string, baseDir: string, columns: string[], rows: TextRow[]): { file: SourceFile; sha256: string } {
  mkdirSync(path.dirname(file), { recursive: true });
  const parts: string[] = [columns.map(csvField).join(',')];
  for (const r of rows) parts.push(columns.map((c) => csvField(r[c])).join(','));
  const text = parts.join('\n') + '\n';
  writeFileSync(file, text);
  const sha256 = createHash('sha256').update(text).digest('hex');
  return { file: { path: file, relPath: path.relative(baseDir, file) || file, size: Buffer.byteLength(text) }, sha256 };
}

/** The file-source view of a database source: its landed CSV read with the source's own mapping. */
export function asFileSource(source: SourceConfig, landedPath: string): FileSourceConfig {
  return {
    name: source.name,
    kind: 'file',
    format: 'csv',
    path: landedPath,
    target: source.target,
    fields: source.fields,
    pii_columns: source.pii_columns,
    free_text: source.free_text,
    lookback_days: source.lookback_days,
  };
}

/**
 * Renames the rejects of one load from `<landed file>:<line>` to `<table>:<key column>=<value>` (line 2
 * is the first row), so a reject names the database row to fix rather than a temporary file.
 */
export async function renameRejectLocations(engine: Engine, loadId: number, relPath: string, rowName: (index: number) => string | null): Promise<void> {
  const locs = await engine.all<{ location: string }>(`SELECT DISTINCT location FROM rejects WHERE load_id = $1`, [loadId]);
  const renames: Array<[string, string]> = [];
  for (const { location } of locs) {
    if (!location.startsWith(relPath + ':')) continue;
    const line = Number(location.slice(relPath.length + 1));
    const name = Number.isInteger(line) ? rowName(line - 2) : null;
    if (name) renames.push([location, name]);
  }
  if (!renames.length) return;
  await engine.run(`CREATE OR REPLACE TEMP TABLE __reject_names (old VARCHAR, new VARCHAR)`);
  await engine.appendRows('__reject_names', renames);
  await engine.run(`UPDATE rejects SET location = n.new FROM __reject_names n WHERE rejects.load_id = $1 AND rejects.location = n.old`, [loadId]);
  await engine.run(`DROP TABLE __reject_names`);
}

/** Records where a source resumes, in the caller's transaction (the one that wrote the rows it covers). */
export async function savePosition(engine: Engine, source: string, position: string, kind: string, loadId: number): Promise<void> {
  await engine.run(`DELETE FROM source_positions WHERE source = $1`, [source]);
  await engine.run(`INSERT INTO source_positions (source, position, position_kind, load_id) VALUES ($1, $2, $3, $4)`, [source, position, kind, loadId]);
}

export async function readPosition(engine: Engine, source: string): Promise<string | null> {
  const r = await engine.one<{ position: string }>(`SELECT position FROM source_positions WHERE source = $1`, [source]);
  return r?.position ?? null;
}

export type { PipelineConfig };
