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
  readFile(path: string, format: 'csv' | 'tsv' | 'jsonl' | 'parquet', opts: { rejectsTable?: string; delimiter?: string; columns?: readonly string[] } = {}): string {
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
        if (opts.columns) {
          // A known header and RFC 4180 quoting: the sniffing pass (about as long as the read) is skipped.
          const cols = opts.columns.map((c) => `${this.quoteString(c)}: 'VARCHAR'`).join(', ');
          return `read_csv(${p}, header=true, delim=${this.quoteString(delim)}, quote='"', escape='"', auto_detect=false, columns={${cols}}${rejects})`;
        }
        return `read_csv(${p}, all_varchar=true, header=true, delim=${this.quoteString(delim)}${rejects})`;
      }
    }
  }
}
