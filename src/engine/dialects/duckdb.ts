import type { ColumnType } from '../../schema/canonical.js';
import { Dialect } from './dialect.js';

const TYPES: Record<ColumnType, string> = {
  varchar: 'VARCHAR',
  integer: 'INTEGER',
  bigint: 'BIGINT',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
  date: 'DATE',
  json: 'JSON',
  'varchar[]': 'VARCHAR[]',
};

export class DuckDBDialect extends Dialect {
  readonly name = 'duckdb';
  sqlType(type: ColumnType): string {
    return TYPES[type];
  }
  // ICU's timezone(zone, TIMESTAMP) reads a naive time as local in zone; casting back to TIMESTAMP
  // with the session zone set to UTC (always, see duckdb.ts) gives naive UTC.
  localToUtc(localTs: string, zone: string): string {
    return `(timezone(${zone}, ${localTs})::TIMESTAMP)`;
  }
  utcToLocal(utcTs: string, zone: string): string {
    return `timezone(${zone}, (${utcTs})::TIMESTAMPTZ)`;
  }
  epochSecondsToTs(expr: string): string {
    return `(to_timestamp(${expr})::TIMESTAMP)`;
  }
  epochMillisToTs(expr: string): string {
    return `epoch_ms(${expr})`;
  }
  tryTimestamp(expr: string): string {
    return `TRY_CAST(${expr} AS TIMESTAMP)`;
  }
  tryCast(expr: string, type: ColumnType): string {
    return `TRY_CAST(${expr} AS ${this.sqlType(type)})`;
  }
  readFile(path: string, format: 'csv' | 'tsv' | 'jsonl' | 'parquet', opts: { rejectsTable?: string; delimiter?: string; knownHeader?: readonly string[] } = {}): string {
    const p = this.quoteString(path);
    switch (format) {
      case 'parquet':
        return `read_parquet(${p})`;
      case 'jsonl':
        // One line per row, kept as text, so a malformed line becomes a reject with its raw text
        // instead of being silently skipped by the JSON reader.
        return `read_csv(${p}, columns={'json_line': 'VARCHAR'}, header=false, delim=${this.quoteString('\u0001')}, quote='', escape='', auto_detect=false, strict_mode=false)`;
      default: {
        const delim = opts.delimiter ?? (format === 'tsv' ? '\t' : ',');
        const rejects = opts.rejectsTable
          ? `, store_rejects=true, rejects_table=${this.quoteString(opts.rejectsTable)}, rejects_scan=${this.quoteString(opts.rejectsTable + '_scan')}`
          : ', ignore_errors=true';
        if (opts.knownHeader) {
          // A known header and RFC 4180 quoting: the sniffing pass (about as long as the read) is skipped.
          const cols = opts.knownHeader.map((c) => `${this.quoteString(c)}: 'VARCHAR'`).join(', ');
          return `read_csv(${p}, header=true, delim=${this.quoteString(delim)}, quote='"', escape='"', auto_detect=false, columns={${cols}}${rejects})`;
        }
        return `read_csv(${p}, all_varchar=true, header=true, delim=${this.quoteString(delim)}${rejects})`;
      }
    }
  }

  // --- features (tiles, windows, ASOF lookups) ---
  override insertionOrderSetting(): string | null {
    return 'preserve_insertion_order';
  }
  deleteWhere(table: string, alias: string, where: string, _key: string[], using?: string): string[] {
    return [`DELETE FROM ${table}${alias ? ` ${alias}` : ''}${using ? ` USING ${using}` : ''} WHERE ${where}`];
  }
  rowIdentity(_key: string[]): string {
    return 'rowid';
  }
  secondsBetween(later: string, earlier: string): string {
    return `epoch(${later} - ${earlier})`;
  }
  positionCode(values: readonly string[], expr: string): string {
    return `CAST(list_position([${this.stringList(values)}], ${expr}) AS UTINYINT)`;
  }
  semiJoin(): string {
    return 'SEMI JOIN';
  }
  antiJoin(): string {
    return 'ANTI JOIN';
  }
  allExcept(qualifier: string, columns: string[]): string {
    return `${qualifier}* EXCLUDE (${columns.join(', ')})`;
  }
  daysBeforeLookups(from: string, to: string, lookups: string): string {
    return `SELECT g.day, l.k FROM (SELECT CAST(x AS DATE) AS day FROM generate_series(CAST(${from} AS TIMESTAMP), CAST(${to} AS TIMESTAMP), INTERVAL 1 DAY) AS t(x)) g
      ASOF JOIN ${lookups} l ON l.pd > g.day`;
  }

  // --- spine, labels, training ---
  sha256Hex(expr: string): string {
    return `sha256(${expr})`;
  }

  // --- ingestion (files, mapping, time, dedupe, identity) ---
  timeZoneNames(): string {
    return 'SELECT name FROM pg_timezone_names()';
  }
  describeFile(path: string, format: 'csv' | 'tsv' | 'jsonl' | 'parquet', opts: { delimiter?: string }): string {
    return `SELECT column_name FROM (DESCRIBE SELECT * FROM ${this.readFile(path, format, opts)})`;
  }
  // Rows of a staged table created in one statement get consecutive row ids in file order.
  rowPosition(): string {
    return 'rowid';
  }
  collectMalformed(table: string, _path: string, _format: 'csv' | 'tsv', opts: { rejectsTable: string }): { check: string | null; insert: string } {
    return {
      check: `SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = ${this.quoteString(opts.rejectsTable)}`,
      insert: `INSERT INTO ${table} SELECT line, any_value(csv_line ORDER BY column_idx NULLS FIRST), string_agg(DISTINCT error_type || coalesce(' (' || column_name || ')', '') || ': ' || error_message, '; ') FROM ${opts.rejectsTable} GROUP BY line`,
    };
  }
  // CSV columns are text. trim() copies every value; most need nothing trimmed: ASCII values (as many
  // bytes as characters) that neither start nor end with a space (the only ASCII character trim()
  // removes). Those are taken as they are; the rest go through trim(), so results are identical.
  trimmedText(q: string): string {
    return `CASE WHEN strlen(${q}) = length(${q}) AND NOT starts_with(${q}, ' ') AND NOT ends_with(${q}, ' ') THEN nullif(${q}, '') ELSE nullif(trim(${q}), '') END`;
  }
  jsonValid(expr: string): string {
    return `json_valid(${expr})`;
  }
  jsonExtractTexts(expr: string, paths: string[], bind: (v: string) => string): string {
    return `CASE WHEN json_valid(${expr}) THEN json_extract_string(${expr}, [${paths.map((p) => bind('$.' + p)).join(', ')}]) END`;
  }
  // list_contains, not IN: DuckDB turns a long IN list into a join, and a join in the mapping makes the
  // staged table's write keep file order single-threaded. Same result, NULL included.
  inList(values: readonly string[], expr: string): string {
    return `list_contains([${this.stringList(values)}], ${expr})`;
  }
  // 1 byte a row instead of a 16-byte string: the staged table of a large file must fit the memory limit.
  enumOf(values: readonly string[], expr: string): string {
    return `CAST(${expr} AS ENUM(${this.stringList(values)}))`;
  }
  smallCode(expr: string): string {
    return `CAST(${expr} AS UTINYINT)`;
  }
  rowJson(columns: string[]): string {
    return `CAST(to_json(struct_pack(${columns.map((c) => `${this.quoteIdent(c)} := ${this.quoteIdent(c)}`).join(', ')})) AS VARCHAR)`;
  }
}
