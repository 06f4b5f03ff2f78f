// Pseudonym key rotation: every pseudonym in the warehouse and the vault is replaced by the one the
// new key gives, in one warehouse transaction, without the raw identifiers ever entering the warehouse.
//
// How:
//   1. For every vault record, each raw identifier (kind → value) gives old = HMAC_old(kind, value)
//      and new = HMAC_new(kind, value). The record's own pseudonym must be one of its old values,
//      otherwise the "old" key is not the key the vault was filled with, and nothing is changed.
//   2. Every value of every column with sensitivity 'pseudonym' (ALL_TABLES in canonical.ts) must be
//      covered by the mapping; values that are not (a person with no identifiers in the vault) would
//      be orphaned, so the rotation is refused unless `allowUnmapped` is set. The refusal counts
//      them per column and never prints them.
//   3. In ONE transaction: a temp mapping table drives `UPDATE … FROM` for varchar columns and a
//      list rewrite for varchar[] columns (elements "kind:pseudonym" keep their prefix); the
//      warehouse's pseudonym key id (learnpipe_meta 'pseudonym_key_id') is set to the new key's;
//      the vault is re-keyed and saved (atomic rename) as the last step before COMMIT. If anything
//      fails the transaction is rolled back and the vault file is restored from a copy taken before.
//
// The key ids are one-way fingerprints (a pseudonym of a fixed marker), safe for manifests and logs.
// Derived tables whose ids hash a pseudonym (e.g. labels.label_id) should be rebuilt after a rotation.
import { copyFileSync, existsSync, renameSync, rmSync, chmodSync } from 'node:fs';
import type { Engine } from '../engine/engine.js';
import { ALL_TABLES, meta, type TableDef } from '../schema/canonical.js';
import type { Pseudonymizer } from './pseudonym.js';
import type { Vault } from './vault.js';

export class RotationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RotationError';
  }
}

export interface RotateOptions {
  /** Tables to re-key (default: ALL_TABLES). */
  tables?: TableDef[];
  /** Proceed even when some warehouse pseudonyms have no identifiers in the vault (they keep their old value). */
  allowUnmapped?: boolean;
  /** Recorded in the vault's access log. */
  who?: string;
}

export interface RotateResult {
  old_key_id: string;
  new_key_id: string;
  /** Distinct pseudonyms in the mapping (old → new). */
  mapped_pseudonyms: number;
  /** Rows updated per table.column. */
  updated: Record<string, number>;
  total_updated: number;
  /** Distinct pseudonym values left unchanged per table.column (only with allowUnmapped). */
  unmapped: Record<string, number>;
  vault_records_moved: number;
}

const MAP = '__rotate_map';
export const PSEUDONYM_KEY_ID = 'pseudonym_key_id';

/** A one-way fingerprint of a pseudonym key (first 16 hex of a pseudonym of a fixed marker). */
export function pseudonymKeyId(pz: Pseudonymizer): string {
  return pz.pseudonym('learnpipe-key-id', 'pseudonym').slice(0, 16);
}

/** The pseudonym key id recorded in the warehouse, if any. */
export async function warehouseKeyId(engine: Engine): Promise<string | undefined> {
  const r = await engine.one<{ value: string }>(`SELECT value FROM ${engine.dialect.quoteIdent(meta.name)} WHERE key = $1`, [PSEUDONYM_KEY_ID]);
  return r?.value;
}

/** Records the key id (call on first load); refuses when the warehouse was built with another key. */
export async function checkWarehouseKey(engine: Engine, pz: Pseudonymizer, opts: { record?: boolean } = {}): Promise<void> {
  const have = await warehouseKeyId(engine);
  const want = pseudonymKeyId(pz);
  if (have && have !== want) {
    throw new RotationError(
      `the warehouse ${engine.location} was built with another pseudonym key (key id ${have}, this key's id ${want}); ` +
        `use the key it was built with, or rotate with \`learnpipe keys rotate\``,
    );
  }
  if (!have && opts.record) await setKeyId(engine, want);
}

async function setKeyId(engine: Engine, id: string): Promise<void> {
  const t = engine.dialect.quoteIdent(meta.name);
  await engine.run(`DELETE FROM ${t} WHERE key = $1`, [PSEUDONYM_KEY_ID]);
  await engine.run(`INSERT INTO ${t} (key, value) VALUES ($1, $2)`, [PSEUDONYM_KEY_ID, id]);
}

/** Old → new pseudonym for every identifier held in the vault; checks the old key reproduces the vault's pseudonyms. */
export function rotationMap(vault: Vault, oldPz: Pseudonymizer, newPz: Pseudonymizer): Map<string, string> {
  const map = new Map<string, string>();
  let mismatched = 0;
  for (const [p, rec] of vault.entries()) {
    let own = false;
    for (const [kind, raw] of Object.entries(rec.identifiers)) {
      const o = oldPz.of(kind, raw);
      const n = newPz.of(kind, raw);
      if (o === null || n === null) continue;
      const prev = map.get(o);
      if (prev !== undefined && prev !== n) throw new RotationError('two identifiers give the same old pseudonym but different new ones; the vault is inconsistent');
      map.set(o, n);
      if (o === p) own = true;
    }
    if (!own) mismatched++;
  }
  if (mismatched) {
    throw new RotationError(
      `${mismatched} of ${vault.size} vault records are filed under a pseudonym the old key does not give from their identifiers: ` +
        `the old key is not the key the vault was filled with (or the records lack identifiers). Nothing was changed.`,
    );
  }
  return map;
}

function pseudonymColumns(tables: TableDef[]): Array<{ table: string; column: string; list: boolean }> {
  const out: Array<{ table: string; column: string; list: boolean }> = [];
  for (const t of tables) for (const c of t.columns) if (c.sensitivity === 'pseudonym') out.push({ table: t.name, column: c.name, list: c.type === 'varchar[]' });
  return out;
}

export async function rotatePseudonyms(engine: Engine, vault: Vault, oldPz: Pseudonymizer, newPz: Pseudonymizer, opts: RotateOptions = {}): Promise<RotateResult> {
  const q = (s: string) => engine.dialect.quoteIdent(s);
  const oldId = pseudonymKeyId(oldPz);
  const newId = pseudonymKeyId(newPz);
  if (oldId === newId) throw new RotationError('the new pseudonym key is the same as the old one');
  const have = await warehouseKeyId(engine);
  if (have && have !== oldId) throw new RotationError(`the warehouse uses pseudonym key id ${have}, not the old key given (${oldId}); nothing was changed`);
  if (vault.modified) throw new RotationError('the vault has unsaved changes; save it before rotating keys');

  const map = rotationMap(vault, oldPz, newPz);
  const cols = pseudonymColumns(opts.tables ?? ALL_TABLES);

  await engine.run(`DROP TABLE IF EXISTS ${MAP}`);
  await engine.run(`CREATE TEMP TABLE ${MAP} (old VARCHAR, new VARCHAR)`);
  await engine.appendRows(MAP, [...map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));

  // Elements of varchar[] columns may be "kind:pseudonym": match on the part after the last ':'.
  const elemKey = (x: string) => `regexp_extract(${x}, '[^:]*$', 0)`;
  try {
    // Coverage: pseudonym values with no mapping would be orphaned.
    const unmapped: Record<string, number> = {};
    for (const c of cols) {
      const values = c.list
        ? `SELECT DISTINCT ${elemKey('v')} AS v FROM (SELECT unnest(${q(c.column)}) AS v FROM ${q(c.table)})`
        : `SELECT DISTINCT ${q(c.column)} AS v FROM ${q(c.table)}`;
      const r = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM (${values}) x WHERE v IS NOT NULL AND v NOT IN (SELECT old FROM ${MAP})`);
      const n = Number(r?.n ?? 0);
      if (n) unmapped[`${c.table}.${c.column}`] = n;
    }
    if (Object.keys(unmapped).length && !opts.allowUnmapped) {
      throw new RotationError(
        `some pseudonyms in the warehouse have no identifiers in the vault and would be orphaned by the rotation ` +
          `(${Object.entries(unmapped).map(([k, n]) => `${k}: ${n}`).join(', ')}); load their sources again with the vault enabled, ` +
          `or pass --allow-unmapped to keep them under the old key. Nothing was changed.`,
      );
    }

    const backup = `${vault.file}.pre-rotate`;
    const hadFile = existsSync(vault.file);
    if (hadFile) {
      copyFileSync(vault.file, backup);
      chmodSync(backup, 0o600);
    }
    let vaultSaved = false;
    let moved = 0;
    const updated: Record<string, number> = {};
    try {
      await engine.transaction(async () => {
        for (const c of cols) {
          const key = `${c.table}.${c.column}`;
          if (c.list) {
            const n = await engine.one<{ n: number }>(
              `SELECT count(*) AS n FROM ${q(c.table)} t WHERE EXISTS (SELECT 1 FROM (SELECT unnest(t.${q(c.column)}) AS v) x JOIN ${MAP} m ON m.old = ${elemKey('x.v')})`,
            );
            updated[key] = Number(n?.n ?? 0);
            if (!updated[key]) continue;
            await engine.run(`UPDATE ${q(c.table)} SET ${q(c.column)} = (
                SELECT list(CASE WHEN m.new IS NULL THEN x.v ELSE left(x.v, length(x.v) - length(m.old)) || m.new END ORDER BY x.i)
                FROM (SELECT unnest(${q(c.table)}.${q(c.column)}) AS v, generate_subscripts(${q(c.table)}.${q(c.column)}, 1) AS i) x
                LEFT JOIN ${MAP} m ON m.old = ${elemKey('x.v')})
              WHERE ${q(c.column)} IS NOT NULL AND length(${q(c.column)}) > 0`);
          } else {
            const n = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM ${q(c.table)} t JOIN ${MAP} m ON t.${q(c.column)} = m.old`);
            updated[key] = Number(n?.n ?? 0);
            if (!updated[key]) continue;
            await engine.run(`UPDATE ${q(c.table)} SET ${q(c.column)} = m.new FROM ${MAP} m WHERE ${q(c.table)}.${q(c.column)} = m.old`);
          }
        }
        await setKeyId(engine, newId);
        // The rotation history (key fingerprints only): every later run's manifest carries it.
        const t = engine.dialect.quoteIdent(meta.name);
        const prev = await engine.one<{ value: string }>(`SELECT value FROM ${t} WHERE key = 'key_rotations'`);
        const history = prev ? (JSON.parse(prev.value) as unknown[]) : [];
        history.push({ from_key_id: oldId, to_key_id: newId, pseudonyms: map.size });
        await engine.run(`DELETE FROM ${t} WHERE key = 'key_rotations'`);
        await engine.run(`INSERT INTO ${t} (key, value) VALUES ('key_rotations', $1)`, [JSON.stringify(history)]);
        moved = vault.rekey(map, opts.who ?? 'learnpipe keys rotate', `pseudonym key rotation ${oldId} -> ${newId}`);
        vault.save();
        vaultSaved = true;
      });
    } catch (err) {
      // The warehouse rolled back; put the vault back as it was.
      if (vaultSaved && hadFile) renameSync(backup, vault.file);
      else if (vaultSaved && !hadFile) rmSync(vault.file, { force: true });
      try {
        vault.reload();
      } catch {
        /* the original error matters more */
      }
      throw err;
    } finally {
      rmSync(backup, { force: true });
    }
    const total = Object.values(updated).reduce((a, b) => a + b, 0);
    return { old_key_id: oldId, new_key_id: newId, mapped_pseudonyms: map.size, updated, total_updated: total, unmapped, vault_records_moved: moved };
  } finally {
    await engine.run(`DROP TABLE IF EXISTS ${MAP}`);
  }
}
