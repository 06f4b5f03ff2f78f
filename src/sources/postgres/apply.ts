// Applies row changes (from logical replication or Debezium) to a source's canonical table,
// idempotently: the canonical rows a change touches are found by the canonical key its row maps to,
// removed, and (for inserts and updates) loaded again from the new row through the file loader, so
// applying the same changes twice leaves the same table. Runs inside the caller's transaction.
import path from 'node:path';
import { rmSync } from 'node:fs';
import type { Engine } from '../../engine/engine.js';
import type { LoadedConfig } from '../../config/load.js';
import type { SourceConfig } from '../../config/schema.js';
import type { Pseudonymizer } from '../../privacy/pseudonym.js';
import type { Vault } from '../../privacy/vault.js';
import { compileMapping } from '../../normalize/mapping.js';
import { pseudonymizeKeys, resolveIdentities } from '../../normalize/identity.js';
import { loadFile, nextLoadId, type LoadResult } from '../../normalize/load.js';
import { describeFile, readerSql, type SourceFile } from '../files.js';
import { asFileSource, landCsv, landingDir, renameRejectLocations, type TextRow } from './landing.js';

export interface RowChange {
  op: 'upsert' | 'delete';
  row: TextRow;
  /** Names the row in rejects, e.g. mdl_grade_grades:id=5 or changes.jsonl:12. */
  name: string;
}

export interface ApplyResult {
  loads: LoadResult[];
  /** Canonical rows removed by deletes (updates that move a row to another key count here too). */
  deleted: number;
}

/** The canonical key of each target as SQL over the mapped rows (m) with people resolved (k, im). */
function keyColumns(target: SourceConfig['target'], sourceName: string): { table: string; cols: Array<[string, string]>; ownRows: boolean } {
  const user = 'coalesce(im.user_id, k.pseudonym)';
  switch (target) {
    case 'events':
      return { table: 'events', cols: [['event_id', 'm.event_id']], ownRows: true };
    case 'assessments':
      return { table: 'assessments', cols: [['assessment_id', 'm.assessment_id']], ownRows: true };
    case 'enrollments':
      return { table: 'enrollments', cols: [['user_id', user], ['course_id', 'm.course_id']], ownRows: true };
    case 'hr_records':
      return { table: 'hr_records', cols: [['user_id', user], ['effective_from', 'm.effective_from']], ownRows: true };
    case 'users':
      return { table: 'identity_links', cols: [['source', `'${sourceName}'`], ['key_kind', 'k.kind'], ['key_pseudonym', 'k.pseudonym']], ownRows: false };
  }
}

/** Removes the canonical rows the given source rows map to; returns how many were removed. */
export async function removeMapped(engine: Engine, loaded: LoadedConfig, source: SourceConfig, file: SourceFile, pz: Pseudonymizer): Promise<number> {
  const fsrc = asFileSource(source, file.relPath);
  const columns = await describeFile(engine, fsrc, file);
  const compiled = compileMapping(engine.dialect, fsrc, loaded.config, readerSql(engine, fsrc, file, { captureRejects: false }), columns);
  await engine.run(`CREATE OR REPLACE TEMP TABLE __chg AS ${compiled.select}`, compiled.params);
  await pseudonymizeKeys(engine, pz, compiled.keyRoles, '__chg');
  const userCol = compiled.keyRoles.find((r) => r.role === 'user')?.column;
  const spec = keyColumns(source.target, source.name);
  const joins = userCol
    ? `LEFT JOIN __keys k ON k.role = 'user' AND k.raw = m.${userCol} LEFT JOIN identity_map im ON im.key_kind = k.kind AND im.key_pseudonym = k.pseudonym`
    : `LEFT JOIN (SELECT NULL AS kind, NULL AS pseudonym) k ON true LEFT JOIN (SELECT NULL AS user_id) im ON true`;
  await engine.run(`CREATE OR REPLACE TEMP TABLE __chg_keys AS SELECT DISTINCT ${spec.cols.map(([c, e]) => `${e} AS ${c}`).join(', ')} FROM __chg m ${joins}`);
  const match = spec.cols.map(([c]) => `t.${c} = x.${c}`).join(' AND ');
  const own = spec.ownRows ? ` AND t.source = '${source.name}'` : '';
  const before = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM ${spec.table}`))?.n ?? 0);
  await engine.run(`DELETE FROM ${spec.table} t WHERE EXISTS (SELECT 1 FROM __chg_keys x WHERE ${match})${own}`);
  // A directory row's email also linked the xAPI mbox_sha1sum of that address (identity.ts
  // linkEmailHashes): the link goes with the row, and comes back if the row is loaded again.
  if (source.target === 'users') {
    await engine.run(`DELETE FROM identity_links l WHERE l.source = '${source.name}' AND l.key_kind = 'mbox_sha1sum'
      AND l.email_pseudonym IN (SELECT pseudonym FROM __keys WHERE role = 'email' OR (role = 'user' AND kind = 'email'))`);
  }
  const after = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM ${spec.table}`))?.n ?? 0);
  for (const t of ['__chg', '__chg_keys', '__keys']) await engine.run(`DROP TABLE IF EXISTS ${t}`);
  return before - after;
}

/**
 * Applies changes in order: consecutive changes of the same kind are applied together (a run of
 * upserts, then a run of deletes, …), so an insert followed by a delete of the same row ends deleted.
 */
export async function applyChanges(
  engine: Engine,
  loaded: LoadedConfig,
  source: SourceConfig,
  changes: RowChange[],
  pz: Pseudonymizer,
  opts: { asOf: string | null; vault?: Vault | null; label: string },
): Promise<ApplyResult> {
  const out: ApplyResult = { loads: [], deleted: 0 };
  const dir = landingDir(path.resolve(loaded.baseDir, loaded.config.warehouse), source.name);
  let removedLinks = false;
  for (let i = 0; i < changes.length; ) {
    let j = i;
    while (j < changes.length && changes[j].op === changes[i].op) j++;
    const run = changes.slice(i, j);
    i = j;
    const columns = [...new Set(run.flatMap((c) => Object.keys(c.row)))];
    const loadId = await nextLoadId(engine);
    const landed = landCsv(path.join(dir, `${opts.label}-${loadId}-${run[0].op}.csv`), loaded.baseDir, columns, run.map((c) => c.row));
    try {
      // The old version of each row goes first: an update that changes a row's key leaves no stale row.
      const removed = await removeMapped(engine, loaded, source, landed.file, pz);
      if (run[0].op === 'delete') {
        out.deleted += removed;
        removedLinks ||= source.target === 'users' && removed > 0;
        continue;
      }
      const r = await loadFile(engine, loaded.config, asFileSource(source, landed.file.relPath), landed.file, landed.sha256, pz, { loadId, asOf: opts.asOf, vault: opts.vault });
      await renameRejectLocations(engine, loadId, landed.file.relPath, (k) => run[k]?.name ?? null);
      out.loads.push(r);
    } finally {
      rmSync(landed.file.path, { force: true });
    }
  }
  // A person's links changed: re-resolve who is who (loadFile does this after loading).
  if (removedLinks) await resolveIdentities(engine, { matchByEmail: loaded.config.identity.match_by_email });
  return out;
}
