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
  readFile(path: string, format: 'csv' | 'tsv' | 'jsonl' | 'parquet', opts: { rejectsTable?: string; delimiter?: string } = {}): string {
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
  currentSchema(): string {
    return `'main'`;
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
  eachValue(column: string, values: number[]): string {
    return `, unnest([${values.join(', ')}]) AS t(${column})`;
  }
  daysBeforeLookups(from: string, to: string, lookups: string): string {
    return `SELECT g.day, l.k FROM (SELECT CAST(x AS DATE) AS day FROM generate_series(CAST(${from} AS TIMESTAMP), CAST(${to} AS TIMESTAMP), INTERVAL 1 DAY) AS t(x)) g
      ASOF JOIN ${lookups} l ON l.pd > g.day`;
  }

  // --- spine, labels, training ---
  sha256Hex(expr: string): string {
    return `sha256(${expr})`;
  }
}
