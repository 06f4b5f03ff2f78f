// Change data capture from Postgres logical replication with the built-in pgoutput plugin. learnpipe
// owns a publication (the tables of the configured sources) and a logical replication slot; `cdc run`
// decodes the slot's changes through the SQL interface (pg_logical_slot_peek_binary_changes, which
// does not consume them), applies each source transaction to the canonical tables in one warehouse
// transaction that also records its commit LSN in source_positions, and only then confirms the LSN to
// Postgres (pg_replication_slot_advance). A crash at any point loses nothing: unconfirmed changes are
// decoded again, and transactions at or before the recorded LSN are skipped, so nothing applies twice.
import type pg from 'pg';
import { PgoutputParser } from 'pg-logical-replication/dist/output-plugins/pgoutput/pgoutput-parser.js';
import type { Pgoutput } from 'pg-logical-replication';
import { EngineError, type Engine } from '../../engine/engine.js';
import type { LoadedConfig } from '../../config/load.js';
import type { PostgresSourceConfig } from '../../config/schema.js';
import type { ReplicationConfig } from '../../config/sources-postgres.js';
import type { Pseudonymizer } from '../../privacy/pseudonym.js';
import type { Vault } from '../../privacy/vault.js';
import type { LoadResult } from '../../normalize/load.js';
import { rebuildUsers } from '../../normalize/identity.js';
import { ConfigError } from '../../config/load.js';
import { SourceReadError } from '../files.js';
import { connect, quoteQualified, safeMessage } from './connect.js';
import { applyChanges, type RowChange } from './apply.js';
import { readPosition, savePosition, type TextRow } from './landing.js';

const q = (id: string) => `"${id.replaceAll('"', '""')}"`;

interface CdcTable {
  /** schema.table as Postgres reports it in relation messages. */
  qualified: string;
  bare: string;
  sources: PostgresSourceConfig[];
}

function replication(loaded: LoadedConfig): ReplicationConfig {
  const rep = loaded.config.replication;
  if (!rep) throw new ConfigError([{ file: loaded.file, path: 'replication', message: 'no replication section: add one to use change data capture (docs/postgres.md)' }]);
  return rep;
}

/** The replicated tables and the sources each feeds (a query source names its table in cdc_table). */
export function cdcTables(loaded: LoadedConfig): CdcTable[] {
  const rep = replication(loaded);
  const byTable = new Map<string, CdcTable>();
  rep.sources.forEach((name, i) => {
    const s = loaded.config.sources.find((x) => x.name === name);
    const issue = (message: string) => new ConfigError([{ file: loaded.file, path: `replication.sources[${i}]`, message }]);
    if (!s) throw issue(`no source named ${name}`);
    if (s.kind !== 'postgres') throw issue(`source ${name} is not a postgres source`);
    const table = s.cdc_table ?? s.table;
    if (!table) throw issue(`source ${name} reads a query: name the table whose changes feed it in cdc_table`);
    const qualified = table.includes('.') ? table : `public.${table}`;
    const entry = byTable.get(qualified) ?? { qualified, bare: qualified.split('.')[1], sources: [] };
    entry.sources.push(s);
    byTable.set(qualified, entry);
  });
  return [...byTable.values()];
}

export interface SetupResult {
  publication: string;
  slot: string;
  tables: string[];
  created_publication: boolean;
  created_slot: boolean;
}

/**
 * Creates (or updates) the publication and creates the slot. Deletes and key-changing updates need
 * the old row, so each table gets REPLICA IDENTITY FULL. Needs wal_level=logical and a role with the
 * REPLICATION attribute that owns the tables (docs/postgres.md has the SQL for an existing database).
 */
export async function cdcSetup(loaded: LoadedConfig): Promise<SetupResult> {
  const rep = replication(loaded);
  const tables = cdcTables(loaded);
  const client = await connect(rep.connection, 'replication');
  try {
    const wal = (await client.query(`SHOW wal_level`)).rows[0].wal_level;
    if (wal !== 'logical') throw new SourceReadError(`replication: the server runs with wal_level=${wal}; change data capture needs wal_level=logical (ALTER SYSTEM SET wal_level = logical; then restart Postgres)`);
    const list = tables.map((t) => quoteQualified(t.qualified)).join(', ');
    for (const t of tables) await client.query(`ALTER TABLE ${quoteQualified(t.qualified)} REPLICA IDENTITY FULL`);
    const pubExists = (await client.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [rep.publication])).rowCount! > 0;
    await client.query(pubExists ? `ALTER PUBLICATION ${q(rep.publication)} SET TABLE ${list}` : `CREATE PUBLICATION ${q(rep.publication)} FOR TABLE ${list}`);
    const slotExists = (await client.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [rep.slot])).rowCount! > 0;
    if (!slotExists) await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [rep.slot]);
    return { publication: rep.publication, slot: rep.slot, tables: tables.map((t) => t.qualified), created_publication: !pubExists, created_slot: !slotExists };
  } catch (err) {
    if (err instanceof SourceReadError) throw err;
    throw new SourceReadError(`replication: setup failed: ${safeMessage(err)}`, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** An LSN (X/Y, hex) as a number, for ordering. */
export function lsnValue(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt('0x' + hi) << 32n) + BigInt('0x' + lo);
}

/** An LSN as Postgres prints it (16/B374D848). */
export function formatLsn(v: bigint): string {
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}

export interface CdcRunResult {
  transactions: number;
  skipped_transactions: number;
  upserts: number;
  deletes: number;
  deleted_rows: number;
  truncates_ignored: number;
  lsn: string | null;
  loads: LoadResult[];
}

interface Txn {
  commitLsn: string;
  changes: Map<string, RowChange[]>;
  upserts: number;
  deletes: number;
}

/** Text values exactly as pgoutput sends them (the parser's per-type conversion is turned off). */
function rawRelation(msg: Pgoutput.MessageRelation): void {
  for (const c of msg.columns) c.parser = (v: unknown) => v;
}

/**
 * The net effect of a sequence of table changes, per row (by its key column): the row as it was before
 * (to remove what it mapped to) and as it is after (to load), as one run of deletes then one run of
 * upserts. Equivalent to applying them one by one, at the cost of two mapping passes instead of one per
 * change. Changes whose rows lack the key column are kept as they are.
 */
export function netChanges(changes: RowChange[], key: string): RowChange[] {
  if (!changes.every((c) => c.row[key] !== undefined && c.row[key] !== null)) return changes;
  const rows = new Map<string, { before: RowChange | null; after: RowChange | null }>();
  for (const c of changes) {
    const id = c.row[key]!;
    let r = rows.get(id);
    // A row whose first change is a delete (of its old image) existed before: that image is what to remove.
    if (!r) rows.set(id, (r = { before: c.op === 'delete' ? c : null, after: null }));
    r.after = c.op === 'upsert' ? c : null;
  }
  const all = [...rows.values()];
  return [...all.flatMap((r) => (r.before ? [r.before] : [])), ...all.flatMap((r) => (r.after ? [r.after] : []))];
}

function rowName(source: PostgresSourceConfig, table: CdcTable, row: TextRow): string {
  const key = source.row_key ?? source.incremental.column;
  return `${table.bare}:${key}=${row[key] ?? '?'}`;
}

/**
 * The source rows for a run of table images: the image itself for a table source; for a query source,
 * the query evaluated over the images (a CTE named like the table shadows it in the query).
 */
async function sourceRows(client: pg.Client, source: PostgresSourceConfig, table: CdcTable, images: TextRow[]): Promise<TextRow[]> {
  if (source.table) return images;
  const sql = `WITH ${q(table.bare)} AS (SELECT * FROM json_populate_recordset(NULL::${quoteQualified(table.qualified)}, $1::json)) SELECT * FROM (${source.query!.replace(/;\s*$/, '')}) AS q`;
  return (await client.query(sql, [JSON.stringify(images)])).rows as TextRow[];
}

/**
 * Applies every change available in the slot, transaction by transaction, until none is left.
 * `maxTransactions` stops early (tests); `onCommit` runs after each group of transactions is confirmed.
 */
export async function cdcRun(
  engine: Engine,
  loaded: LoadedConfig,
  pz: Pseudonymizer,
  opts: { asOf: string | null; vault?: Vault | null; maxTransactions?: number; onCommit?: (lsn: string) => void | Promise<void> } = { asOf: null },
): Promise<CdcRunResult> {
  const rep = replication(loaded);
  const tables = cdcTables(loaded);
  const byName = new Map(tables.map((t) => [t.qualified, t]));
  const positionKey = `replication:${rep.slot}`;
  const out: CdcRunResult = { transactions: 0, skipped_transactions: 0, upserts: 0, deletes: 0, deleted_rows: 0, truncates_ignored: 0, lsn: null, loads: [] };
  let applied = await readPosition(engine, positionKey);
  out.lsn = applied;
  const client = await connect(rep.connection, 'replication');
  try {
    const slot = await client.query(`SELECT plugin FROM pg_replication_slots WHERE slot_name = $1`, [rep.slot]);
    if (!slot.rowCount) throw new SourceReadError(`replication: no slot named ${rep.slot}; run \`learnpipe cdc setup\` first`);
    for (;;) {
      let rows: Array<{ lsn: string; data: string }>;
      try {
        rows = (await client.query(`SELECT lsn, data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2, 'proto_version', '1', 'publication_names', $3)`, [rep.slot, rep.batch_changes, rep.publication])).rows;
      } catch (err) {
        throw new SourceReadError(`replication: reading slot ${rep.slot} failed (${safeMessage(err)}); applied up to ${applied ?? 'nothing'}; the next run resumes from there`, { cause: err });
      }
      if (!rows.length) break;
      const parser = new PgoutputParser();
      const txns: Txn[] = [];
      let txn: Txn | null = null;
      for (const r of rows) {
        const msg = parser.parse(Buffer.from(r.data.slice(2), 'hex'));
        switch (msg.tag) {
          case 'relation':
            rawRelation(msg);
            break;
          case 'begin':
            txn = { commitLsn: '', changes: new Map(), upserts: 0, deletes: 0 };
            break;
          case 'insert':
          case 'update':
          case 'delete': {
            const table = byName.get(`${msg.relation.schema}.${msg.relation.name}`);
            if (!table || !txn) break;
            const list = (name: string) => txn!.changes.get(name) ?? (txn!.changes.set(name, []), txn!.changes.get(name)!);
            for (const s of table.sources) {
              // Changes are kept per source in order, tagged with their table.
              const push = (op: RowChange['op'], row: TextRow) => list(s.name).push({ op, row, name: table.qualified });
              if (msg.tag === 'insert') push('upsert', msg.new);
              else if (msg.tag === 'update') {
                if (msg.old) push('delete', msg.old);
                push('upsert', msg.new);
              } else push('delete', (msg.old ?? msg.key)!);
            }
            if (msg.tag === 'delete') txn.deletes++;
            else txn.upserts++;
            break;
          }
          case 'truncate':
            out.truncates_ignored++;
            break;
          case 'commit':
            if (!txn) break;
            txn.commitLsn = formatLsn(lsnValue(msg.commitEndLsn!));
            txns.push(txn);
            txn = null;
            break;
        }
      }
      // Only whole transactions are peeked; a batch without a commit cannot make progress.
      if (!txns.length) throw new SourceReadError(`replication: slot ${rep.slot} returned changes without a commit; raise replication.batch_changes`);
      const limit = opts.maxTransactions !== undefined ? opts.maxTransactions - out.transactions : Infinity;
      try {
        await applyTransactions(txns.slice(0, Math.max(0, limit)));
      } catch (err) {
        // Postgres went away mid-apply: the warehouse transaction rolled back, nothing was confirmed.
        if (err instanceof SourceReadError || err instanceof EngineError || !(err instanceof Error) || !('code' in err || /connection|terminat/i.test(err.message))) throw err;
        throw new SourceReadError(`replication: lost Postgres while applying changes (${safeMessage(err)}); applied up to ${applied ?? 'nothing'}; the next run resumes from there`, { cause: err });
      }
      if (out.transactions >= (opts.maxTransactions ?? Infinity)) break;
    }
    return out;
  } finally {
    await client.end().catch(() => undefined);
    if (out.transactions) await engine.transaction(() => rebuildUsers(engine));
  }

  /**
   * Applies the transactions of one peek together, in one warehouse transaction (in commit order;
   * runs of the same operation are applied together), records the last commit LSN with them, then
   * confirms it. Transactions at or before the recorded LSN were applied by a run that died before
   * confirming them: they are skipped.
   */
  async function applyTransactions(all: Txn[]): Promise<void> {
    const txns = all.filter((t) => applied === null || lsnValue(t.commitLsn) > lsnValue(applied));
    out.skipped_transactions += all.length - txns.length;
    if (!txns.length) {
      if (all.length) await confirm(all[all.length - 1].commitLsn);
      return;
    }
    const last = txns[txns.length - 1].commitLsn;
    await engine.transaction(async () => {
      for (const source of loaded.config.sources) {
        if (source.kind !== 'postgres') continue;
        const changes = netChanges(txns.flatMap((t) => t.changes.get(source.name) ?? []), source.row_key ?? source.incremental.column);
        if (!changes.length) continue;
        const table = byName.get(changes[0].name)!;
        // Runs of the same operation, each turned into source rows (through the query for query sources).
        const rowsOut: RowChange[] = [];
        for (let i = 0; i < changes.length; ) {
          let j = i;
          while (j < changes.length && changes[j].op === changes[i].op) j++;
          const images = changes.slice(i, j).map((c) => c.row);
          for (const row of await sourceRows(client, source, table, images)) rowsOut.push({ op: changes[i].op, row, name: rowName(source, table, row) });
          i = j;
        }
        const r = await applyChanges(engine, loaded, source, rowsOut, pz, { asOf: opts.asOf, vault: opts.vault, label: 'cdc' });
        out.loads.push(...r.loads);
        out.deleted_rows += r.deleted;
      }
      const lastLoad = Number((await engine.one<{ id: number }>(`SELECT coalesce(max(load_id), 0) AS id FROM loads`))?.id ?? 0);
      await savePosition(engine, positionKey, last, 'lsn', lastLoad);
    });
    applied = last;
    out.lsn = applied;
    out.transactions += txns.length;
    for (const t of txns) {
      out.upserts += t.upserts;
      out.deletes += t.deletes;
    }
    await confirm(last);
    await opts.onCommit?.(last);
  }

  async function confirm(lsn: string): Promise<void> {
    await client.query(`SELECT pg_replication_slot_advance($1, $2::pg_lsn)`, [rep.slot, lsn]);
  }
}
