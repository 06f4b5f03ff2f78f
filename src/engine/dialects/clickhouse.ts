// ClickHouse SQL (a server, a cluster, or chdb in-process). Tables are MergeTree, ordered by their key
// columns; with a cluster name, each table is a ReplicatedMergeTree on every shard plus a Distributed
// table over them under the canonical name (see docs/engines.md).
import type { ColumnType, TableDef } from '../../schema/canonical.js';
import { Dialect } from './dialect.js';

const TYPES: Record<ColumnType, string> = {
  varchar: 'String',
  integer: 'Int32',
  bigint: 'Int64',
  double: 'Float64',
  boolean: 'Bool',
  // Microseconds, as DuckDB's TIMESTAMP; always UTC (learnpipe stores UTC only).
  timestamp: "DateTime64(6, 'UTC')",
  // Date32 covers 1900–2299 (Date stops at 2149 and starts at 1970).
  date: 'Date32',
  json: 'String',
  'varchar[]': 'Array(String)',
};

export class ClickHouseDialect extends Dialect {
  readonly name = 'clickhouse';
  constructor(readonly cluster: string | null = null) {
    super();
  }

  // ClickHouse also accepts "double quotes" for identifiers; backslashes in string literals are escapes.
  override quoteString(value: string): string {
    return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  }
  override toText(expr: string): string {
    return `toString(${expr})`;
  }

  // --- catalog, text, hashing (QA checks, run records, privacy scans) ---
  override currentSchema(): string {
    return 'currentDatabase()';
  }
  override typeMatches(type: ColumnType, nullable: boolean, reported: string): boolean {
    return reported === this.columnType(type, nullable);
  }
  override orderedStringAgg(expr: string, sep: string, orderBy: string): string {
    return `arrayStringConcat(arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((${orderBy}, ${expr})))), ${this.quoteString(sep)})`;
  }
  override hash(...exprs: string[]): string {
    return `cityHash64(${exprs.join(', ')})`;
  }
  override unnestJoin(arrayExpr: string, alias: string): string {
    return ` ARRAY JOIN ${arrayExpr} AS ${alias}`;
  }
  override regexpMatches(expr: string, pattern: string): string {
    return `match(${expr}, ${pattern})`;
  }
  override regexpReplaceAll(expr: string, pattern: string, replacement: string): string {
    return `replaceRegexpAll(${expr}, ${pattern}, ${replacement})`;
  }
  sqlType(type: ColumnType): string {
    return TYPES[type];
  }
  private columnType(type: ColumnType, nullable: boolean): string {
    // Arrays cannot be Nullable in ClickHouse; an empty array stands for "none".
    return nullable && type !== 'varchar[]' ? `Nullable(${TYPES[type]})` : TYPES[type];
  }

  override createTable(def: TableDef, opts: { ifNotExists?: boolean; temp?: boolean; name?: string } = {}): string {
    return this.createTableStatements(def, opts).join(';\n');
  }

  override createTableStatements(def: TableDef, opts: { ifNotExists?: boolean; temp?: boolean; name?: string } = {}): string[] {
    const name = opts.name ?? def.name;
    const cols = def.columns.map((c) => `  ${this.quoteIdent(c.name)} ${this.columnType(c.type, c.nullable)}`).join(',\n');
    const ine = opts.ifNotExists ? 'IF NOT EXISTS ' : '';
    if (opts.temp) return [`CREATE TEMPORARY TABLE ${ine}${this.quoteIdent(name)} (\n${cols}\n) ENGINE = Memory`];
    // The sorting key: the table's key columns that cannot be NULL (a nullable key would need
    // allow_nullable_key); tables without one keep insertion order (tuple()).
    const notNull = new Set(def.columns.filter((c) => !c.nullable && c.type !== 'varchar[]').map((c) => c.name));
    const order = def.key.filter((k) => notNull.has(k));
    const orderBy = order.length ? `(${order.map((k) => this.quoteIdent(k)).join(', ')})` : 'tuple()';
    if (!this.cluster) return [`CREATE TABLE ${ine}${this.quoteIdent(name)} (\n${cols}\n) ENGINE = MergeTree ORDER BY ${orderBy}`];
    // On a cluster: the rows live in <name>_local on every shard, the Distributed table routes reads
    // and writes (rows spread by a hash of the sorting key, so one key's rows stay on one shard).
    const c = this.quoteString(this.cluster);
    const local = this.quoteIdent(`${name}_local`);
    const shardKey = order.length ? `cityHash64(${order.map((k) => this.quoteIdent(k)).join(', ')})` : 'rand()';
    return [
      `CREATE TABLE ${ine}${local} ON CLUSTER ${c} (\n${cols}\n) ENGINE = ReplicatedMergeTree ORDER BY ${orderBy}`,
      `CREATE TABLE ${ine}${this.quoteIdent(name)} ON CLUSTER ${c} AS ${local} ENGINE = Distributed(${c}, currentDatabase(), ${this.quoteString(`${name}_local`)}, ${shardKey})`,
    ];
  }

  // ClickHouse reads a naive DateTime64 in the zone given to it; toTimeZone then changes only the zone
  // shown, and the final cast states UTC. In a DST gap ClickHouse moves the time back by the gap (the
  // UTC instant of the earlier offset); learnpipe resolves gaps itself before this is called.
  localToUtc(localTs: string, zone: string): string {
    return `toTimeZone(toDateTime64(toString(${localTs}), 6, ${zone}), 'UTC')`;
  }
  utcToLocal(utcTs: string, zone: string): string {
    return `toDateTime64(toString(toTimeZone(${utcTs}, ${zone})), 6, 'UTC')`;
  }
  epochSecondsToTs(expr: string): string {
    return `toDateTime64(${expr}, 6, 'UTC')`;
  }
  epochMillisToTs(expr: string): string {
    return `fromUnixTimestamp64Milli(toInt64(${expr}), 'UTC')`;
  }
  tryTimestamp(expr: string): string {
    return `parseDateTime64BestEffortOrNull(${expr}, 6, 'UTC')`;
  }
  tryCast(expr: string, type: ColumnType): string {
    return `accurateCastOrNull(${expr}, ${this.quoteString(TYPES[type])})`;
  }
  readFile(path: string, format: 'csv' | 'tsv' | 'jsonl' | 'parquet'): string {
    const p = this.quoteString(path);
    switch (format) {
      case 'parquet':
        return `file(${p}, 'Parquet')`;
      case 'jsonl':
        return `file(${p}, 'LineAsString', 'json_line String')`;
      case 'tsv':
        return `file(${p}, 'TSVWithNames')`;
      default:
        return `file(${p}, 'CSVWithNames')`;
    }
  }

  // --- spine, labels, training ---
  override typedNull(type: ColumnType): string {
    return `CAST(NULL AS ${this.columnType(type, true)})`;
  }
  sha256Hex(expr: string): string {
    return `lower(hex(SHA256(${expr})))`;
  }
  // toString of a DateTime64(6) always prints six fractional digits; DuckDB drops trailing zeros (and
  // the dot when none are left). Values without a fractional part (DateTime, Date) are left as they are.
  override timestampText(expr: string): string {
    return `replaceRegexpOne(toString(${expr}), ${this.quoteString(String.raw`(\.\d*[1-9])0+$|\.0+$`)}, ${this.quoteString(String.raw`\1`)})`;
  }
}
