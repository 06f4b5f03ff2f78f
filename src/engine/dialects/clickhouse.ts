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
  // toDecimal128 of a float truncates (1234.1 → 1234.099999999), and so does parsing text with more than
  // 9 decimals (0.1234567895 → 0.123456789, DuckDB: 0.123456790): rounded to 9 decimals first, then
  // through its shortest text, it rounds as DuckDB does (ties aside: round() goes to even on floats).
  override exactDecimal(expr: string): string {
    return `toDecimal128(toString(round(${expr}, 9)), 9)`;
  }
  // ClickHouse's parallel aggregation merges partial sums in any order: a float sum of three or more values
  // could differ in its last bit between two runs, so the sum is exact, in decimals, and then a float.
  override floatSum(expr: string, filter?: string): string {
    return `toFloat64(sum(${this.exactDecimal(expr)})${filter ? ` FILTER (WHERE ${filter})` : ''})`;
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

  // --- features (tiles, windows, ASOF lookups) ---
  override deleteAll(table: string): string {
    return `TRUNCATE TABLE ${table}`;
  }
  // A DELETE runs as a mutation, which sees neither temporary tables nor the session's settings: the
  // keys to delete are first gathered into a plain table, NULLs made comparable (transform_null_in does
  // not reach the mutation) by pairing each key value with whether it is NULL.
  deleteWhere(table: string, alias: string, where: string, key: string[], using?: string): string[] {
    const keys = (q: string) => key.map((c) => `assumeNotNull(${q}${c}), isNull(${q}${c})`).join(', ');
    const tmp = this.quoteIdent(`__delete_${table}`);
    return [
      `DROP TABLE IF EXISTS ${tmp}`,
      `CREATE TABLE ${tmp} ENGINE = Memory AS SELECT ${keys(alias ? `${alias}.` : '')} FROM ${table}${alias ? ` ${alias}` : ''}${using ? `, ${using}` : ''} WHERE ${where}`,
      `DELETE FROM ${table} WHERE (${keys('')}) IN (SELECT * FROM ${tmp})`,
      `DROP TABLE ${tmp}`,
    ];
  }
  // No row ids: the key columns, as a tuple.
  rowIdentity(key: string[]): string {
    return `(${key.join(', ')})`;
  }
  // A correlated IS NOT DISTINCT FROM misses NULL = NULL here (26.7); a tuple IN matches NULLs
  // (transform_null_in, a session setting).
  override hasMatch(outer: string, table: string, _inner: string, key: string[]): string {
    return `(${key.map((c) => `${outer}.${c}`).join(', ')}) IN (SELECT ${key.join(', ')} FROM ${table})`;
  }
  override update(table: string, set: string, where: string): string {
    return `ALTER TABLE ${table} UPDATE ${set} WHERE ${where}`;
  }
  // (Timestamp minus timestamp is not an interval here.)
  override gapExceeded(later: string, earlier: string, interval: string): string {
    return `${later} > ${earlier} + ${interval}`;
  }
  secondsBetween(later: string, earlier: string): string {
    return `dateDiff('microsecond', ${earlier}, ${later}) / 1e6`;
  }
  positionCode(values: readonly string[], expr: string): string {
    return `CAST(nullIf(indexOf([${this.stringList(values)}], ${expr}), 0) AS Nullable(UInt8))`;
  }
  // Beyond the partition's edge lag and lead give the type's default (1970-01-01 for a timestamp), unless it is Nullable.
  override lag(expr: string): string {
    return `lag(toNullable(${expr}))`;
  }
  override lead(expr: string): string {
    return `lead(toNullable(${expr}))`;
  }
  semiJoin(): string {
    return 'LEFT SEMI JOIN';
  }
  antiJoin(): string {
    return 'LEFT ANTI JOIN';
  }
  allExcept(qualifier: string, columns: string[]): string {
    return `${qualifier}* EXCEPT (${columns.join(', ')})`;
  }
  eachValue(column: string, values: number[]): string {
    return ` ARRAY JOIN [${values.join(', ')}] AS ${column}`;
  }
  // No series of timestamps: numbers(); an ASOF join needs an equality, here on a constant.
  daysBeforeLookups(from: string, to: string, lookups: string): string {
    const d0 = `toDate32(${from})`;
    return `SELECT g.day, l.k FROM (SELECT ${d0} + number AS day, 0 AS z FROM numbers(toUInt64(greatest(dateDiff('day', ${d0}, toDate32(${to})) + 1, 0)))) g
      ASOF JOIN (SELECT pd, k, 0 AS z FROM ${lookups}) l ON g.z = l.z AND g.day < l.pd`;
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
