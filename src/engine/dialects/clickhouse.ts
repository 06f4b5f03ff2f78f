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

  override dropTableStatements(def: TableDef): string[] {
    if (!this.cluster) return super.dropTableStatements(def);
    const c = this.quoteString(this.cluster);
    return [`DROP TABLE IF EXISTS ${this.quoteIdent(def.name)} ON CLUSTER ${c}`, `DROP TABLE IF EXISTS ${this.quoteIdent(`${def.name}_local`)} ON CLUSTER ${c}`];
  }

  // A zone argument must be a constant here: with `zones` (every value a zone column takes), one
  // conversion per zone, chosen per row. A local time T in zone Z: with the offsets a day before (oB)
  // and a day after (oA), T - oA when that reads back as T (outside transitions, and the later instant
  // in an overlap), else T - oB (a gap: the offset before the jump, so the time lands later), as ICU does.
  localToUtc(localTs: string, zone: string, zones?: readonly string[]): string {
    const one = (z: string) => {
      const off = (t: string) => `timeZoneOffset(toTimeZone(${t}, ${z}))`;
      const after = `addSeconds(${localTs}, -${off(`${localTs} + INTERVAL 1 DAY`)})`;
      const before = `addSeconds(${localTs}, -${off(`${localTs} - INTERVAL 1 DAY`)})`;
      return `if(addSeconds(${after}, ${off(after)}) = ${localTs}, ${after}, ${before})`;
    };
    return this.perZone(zone, zones, one);
  }
  utcToLocal(utcTs: string, zone: string, zones?: readonly string[]): string {
    return this.perZone(zone, zones, (z) => `addSeconds(${utcTs}, timeZoneOffset(toTimeZone(${utcTs}, ${z})))`);
  }
  private perZone(zone: string, zones: readonly string[] | undefined, f: (z: string) => string): string {
    if (!zones) return f(zone);
    if (!zones.length) return this.typedNull('timestamp');
    return `multiIf(${zones.map((z) => `${zone} = ${this.quoteString(z)}, ${f(this.quoteString(z))}`).join(', ')}, ${this.typedNull('timestamp')})`;
  }
  epochSecondsToTs(expr: string): string {
    // To whole microseconds, rounded (a double's seconds are rarely exact), as DuckDB's to_timestamp.
    return `fromUnixTimestamp64Micro(toInt64(round(${expr} * 1000000)), 'UTC')`;
  }
  epochMillisToTs(expr: string): string {
    return `fromUnixTimestamp64Milli(toInt64(${expr}), 'UTC')`;
  }
  // parseDateTime64BestEffort reads far more than ISO-8601 (and 2024-02-30 as NULL): only the shapes
  // DuckDB's cast accepts are handed to it.
  tryTimestamp(expr: string): string {
    return `if(match(${expr}, ${this.quoteString(String.raw`^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$`)}), parseDateTime64BestEffortOrNull(${expr}, 6, 'UTC'), NULL)`;
  }
  tryCast(expr: string, type: ColumnType): string {
    return `accurateCastOrNull(${expr}, ${this.quoteString(TYPES[type])})`;
  }
  readFile(path: string, format: 'csv' | 'tsv' | 'jsonl' | 'parquet', opts: { delimiter?: string; columns?: string[] } = {}): string {
    const p = this.quoteString(path);
    switch (format) {
      case 'parquet':
        return `(SELECT *, toInt64(_row_number) AS __pos FROM file(${p}, 'Parquet'))`;
      case 'jsonl':
        // One line per row, kept as text (a malformed line becomes a reject with its raw text); blank
        // lines are skipped, as DuckDB's reader does.
        return `(SELECT toInt64(row_number() OVER (ORDER BY _row_number)) - 1 AS __pos, line AS json_line FROM file(${p}, 'LineAsString') WHERE line != '')`;
      default: {
        const cols = opts.columns ?? [];
        const delim = opts.delimiter ?? (format === 'tsv' ? '\t' : ',');
        const { fields, valid } = this.csvLine('l', delim);
        return `(SELECT toInt64(row_number() OVER (ORDER BY __line)) - 1 AS __pos, ${cols.map((c, i) => `__f[${i + 1}] AS ${this.quoteIdent(c)}`).join(', ')}
          FROM (SELECT __line, l, ${fields} AS __f FROM ${this.csvLines(p)}) WHERE ${valid} AND length(__f) = ${cols.length})`;
      }
    }
  }
  /** The physical lines of a text file after its header (0-based __line), CR stripped, blank ones left out. */
  private csvLines(p: string): string {
    return `(SELECT _row_number AS __line, if(endsWith(line, '\r'), substring(line, 1, length(line) - 1), line) AS l FROM file(${p}, 'LineAsString') WHERE __line > 0 AND l != '')`;
  }
  /**
   * A CSV line parsed in SQL (file() cannot say which lines it failed on): fields are quoted ("" inside
   * quotes is a quote) or unquoted without quotes; a line is valid when it is a delimited list of them.
   * A quoted field cannot span lines here (its lines are malformed).
   */
  private csvLine(line: string, delim: string): { fields: string; valid: string } {
    const d = `\\x{${delim.charCodeAt(0).toString(16).padStart(2, '0')}}`;
    const field = `"(?:[^"]|"")*"|[^${d}"]*`;
    const raw = `arrayMap(x -> x[1], extractAllGroups(concat(${this.quoteString(delim)}, ${line}), ${this.quoteString(`${d}(${field})`)}))`;
    return {
      fields: `arrayMap(x -> if(startsWith(x, '"'), replaceAll(substring(x, 2, length(x) - 2), '""', '"'), x), ${raw})`,
      valid: `match(${line}, ${this.quoteString(`^(?:${field})(?:${d}(?:${field}))*$`)})`,
    };
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

  // --- ingestion (files, mapping, time, dedupe, identity) ---
  // No transactions: a load is made idempotent instead (see ingest.ts and docs/engines.md).
  override hasTransactions(): boolean {
    return false;
  }
  timeZoneNames(): string {
    return 'SELECT time_zone AS name FROM system.time_zones';
  }
  describeFile(path: string, format: 'csv' | 'tsv' | 'jsonl' | 'parquet', opts: { delimiter?: string }): string {
    const p = this.quoteString(path);
    if (format === 'jsonl') return `SELECT 'json_line' AS column_name`;
    // (DESCRIBE cannot be a subquery here: its rows name the column `name`.)
    if (format === 'parquet') return `DESCRIBE TABLE file(${p}, 'Parquet')`;
    const { fields } = this.csvLine('l', opts.delimiter ?? (format === 'tsv' ? '\t' : ','));
    // The header without a UTF-8 byte order mark (DuckDB's reader drops it too).
    return `SELECT arrayJoin(${fields}) AS column_name FROM (SELECT if(endsWith(h, '\r'), substring(h, 1, length(h) - 1), h) AS l FROM (SELECT if(startsWith(line, '\\xEF\\xBB\\xBF'), substring(line, 4), line) AS h FROM file(${p}, 'LineAsString') LIMIT 1))`;
  }
  // The reader numbers the file's rows (file() gives each line's number as _row_number).
  override filePosition(): string | null {
    return '__pos';
  }
  rowPosition(): string {
    return '__pos';
  }
  collectMalformed(table: string, path: string, format: 'csv' | 'tsv', opts: { delimiter?: string; columns: string[] }): { check: string | null; insert: string } {
    const { fields, valid } = this.csvLine('l', opts.delimiter ?? (format === 'tsv' ? '\t' : ','));
    const n = opts.columns.length;
    return {
      check: null,
      insert: `INSERT INTO ${table} SELECT __line + 1, l, if(${valid}, concat('expected ${n} fields, found ', toString(length(${fields}))), 'unterminated or misplaced quote')
        FROM ${this.csvLines(this.quoteString(path))} WHERE NOT (${valid} AND length(${fields}) = ${n}) ORDER BY __line`,
    };
  }
  // No temporary views: a temporary table holds the rows instead.
  override tempView(name: string, select: string): string[] {
    return [`DROP TABLE IF EXISTS ${name}`, `CREATE TEMPORARY TABLE ${name} AS ${select}`];
  }
  override dropTempView(name: string): string {
    return `DROP TABLE IF EXISTS ${name}`;
  }
  override tsMinusDays(ts: string, days: string): string {
    return `${ts} - toIntervalDay(${days})`;
  }
  trimmedText(q: string): string {
    return `nullif(trimBoth(${q}), '')`;
  }
  jsonValid(expr: string): string {
    return `isValidJSON(${expr})`;
  }
  // Strings unquoted, other scalars as their JSON text, JSON null and absent paths as NULL.
  jsonExtractTexts(expr: string, paths: string[], bind: (v: string) => string): string {
    const one = (path: string) => {
      const k = [expr, ...path.split('.').map((x) => bind(x))].join(', ');
      return `if(JSONType(${k}) = 'String', JSONExtractString(${k}), if(JSONType(${k}) = 'Null', NULL, JSONExtractRaw(${k})))`;
    };
    return `if(isValidJSON(${expr}), [${paths.map(one).join(', ')}], [])`;
  }
  inList(values: readonly string[], expr: string): string {
    return `has([${this.stringList(values)}], ${expr})`;
  }
  enumOf(_values: readonly string[], expr: string): string {
    return expr;
  }
  // round() rounds halves to even on floats; DuckDB rounds them away from zero.
  override roundToInt(expr: string): string {
    return `CAST(if(${expr} < 0, -floor(-${expr} + 0.5), floor(${expr} + 0.5)) AS Nullable(Int32))`;
  }
  smallCode(expr: string): string {
    return `CAST(${expr} AS Nullable(UInt8))`;
  }
  rowJson(columns: string[]): string {
    return `formatRowNoNewline('JSONEachRow', ${columns.map((c) => this.quoteIdent(c)).join(', ')})`;
  }
  // The values as one tuple's text (NULL shown as NULL), hashed.
  override rowHash(exprs: string[]): string {
    return `cityHash64(toString(tuple(${exprs.join(', ')})))`;
  }
  // Aggregates skip NULL arguments here; wrapped in a tuple, a NULL value on the latest row is kept.
  override argMax(expr: string, by: string): string {
    return `tupleElement(argMax(tuple(${expr}), ${by}), 1)`;
  }
  override latestNonNull(expr: string, by: string[]): string {
    return `argMax(${expr}, tuple(${by.join(', ')}))`;
  }
  override orderedList(expr: string, orderBy: string[]): string {
    return `arrayMap(x -> x.2, arraySort(groupArray((tuple(${orderBy.join(', ')}), ${expr}))))`;
  }
  override boolOr(cond: string): string {
    return `max(${cond})`;
  }
  override arrayContains(arr: string, value: string): string {
    return `has(${arr}, ${value})`;
  }
  override arraySortedAppend(arr: string, value: string): string {
    return `arraySort(arrayPushBack(${arr}, ${value}))`;
  }
  override regexpExtract(expr: string, pattern: string, group: number): string {
    return `regexpExtract(${expr}, ${pattern}, ${group})`;
  }
  override tryIsoOffsetToUtc(expr: string): string {
    const iso = String.raw`^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}(:?\d{2})?)$`;
    return `if(match(${expr}, ${this.quoteString(iso)}), parseDateTime64BestEffortOrNull(${expr}, 6, 'UTC'), NULL)`;
  }
  override tryDate(expr: string): string {
    return `if(match(${expr}, ${this.quoteString(String.raw`^\d{4}-\d{2}-\d{2}$`)}), toDate32(parseDateTime64BestEffortOrNull(${expr}, 0, 'UTC')), NULL)`;
  }
  // No UPDATE … FROM, and a mutation sees neither temporary tables nor joins: the new values go into a
  // plain table first, and each row finds its own by key (sorted arrays of (key, value) pairs).
  // A column of the sorting key cannot be updated: those rows are deleted and inserted again, changed.
  override updateFrom(table: string, sets: Array<[col: string, expr: string]>, from: string, alias: string, keys: Array<[tableCol: string, fromCol: string]>, where?: string, rowKey: string[] = []): string[] {
    const tmp = this.quoteIdent(`__update_${table}`);
    const on = keys.map(([t, f]) => `${table}.${t} = ${alias}.${f}`).join(' AND ');
    if (sets.some(([c]) => rowKey.includes(c))) {
      const rows = this.quoteIdent(`__update_rows_${table}`);
      return [
        `DROP TABLE IF EXISTS ${rows}`,
        `CREATE TEMPORARY TABLE ${rows} AS SELECT ${table}.* REPLACE (${sets.map(([c, e]) => `${e} AS ${c}`).join(', ')}) FROM ${table} JOIN ${from} ${alias} ON ${on}${where ? ` WHERE ${where}` : ''}`,
        ...this.deleteWhere(table, '', `${on}${where ? ` AND ${where}` : ''}`, rowKey, `${from} ${alias}`),
        `INSERT INTO ${table} SELECT * FROM ${rows}`,
        `DROP TABLE ${rows}`,
      ];
    }
    const k = keys.map((_, i) => `__k${i}`).join(', ');
    const pairs = (i: number) => `(SELECT arraySort(groupArray((tuple(${k}), __v${i}))) FROM ${tmp})`;
    const tableKey = `tuple(${keys.map(([t]) => t).join(', ')})`;
    return [
      `DROP TABLE IF EXISTS ${tmp}`,
      `CREATE TABLE ${tmp} ENGINE = Memory AS SELECT DISTINCT ${keys.map(([, f], i) => `${alias}.${f} AS __k${i}`).join(', ')}, ${sets.map(([, e], i) => `${e} AS __v${i}`).join(', ')}
        FROM ${from} ${alias} JOIN ${table} ON ${on}${where ? ` WHERE ${where}` : ''}`,
      `ALTER TABLE ${table} UPDATE ${sets.map(([c], i) => `${c} = arrayElement(arrayMap(x -> x.2, ${pairs(i)}), indexOf(arrayMap(x -> x.1, ${pairs(i)}), ${tableKey}))`).join(', ')}
        WHERE ${tableKey} IN (SELECT tuple(${k}) FROM ${tmp})`,
      `DROP TABLE ${tmp}`,
    ];
  }
  // No correlated subquery: the positions of the malformed lines, as an array.
  override malformedBefore(row: string, header: number, malformedTable: string): string {
    return `arrayCount(v -> v <= ${row}, (SELECT groupArray(vb) FROM (SELECT line - ${header} - row_number() OVER (ORDER BY line) AS vb FROM ${malformedTable})))`;
  }
  override needsZoneList(): boolean {
    return true;
  }
  // lower() changes ASCII letters only here.
  override lowerText(expr: string): string {
    return `lowerUTF8(${expr})`;
  }
}
