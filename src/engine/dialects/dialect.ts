// The one place SQL text differs between engines. Stage code asks the dialect for identifiers,
// literals, types and the few functions whose spelling varies; it never writes engine-specific text.
import type { ColumnType, TableDef } from '../../schema/canonical.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Identifiers coming from config (column names, source names) must match this before use. */
export function assertIdentifier(name: string, what = 'identifier'): string {
  if (!IDENTIFIER.test(name)) throw new Error(`invalid ${what} ${JSON.stringify(name)}: use letters, digits and underscores, not starting with a digit`);
  return name;
}

export abstract class Dialect {
  abstract readonly name: string;

  /** Quotes an identifier; embedded quotes are doubled, so any name is safe. */
  quoteIdent(name: string): string {
    return `"${name.replaceAll('"', '""')}"`;
  }
  /** Quotes a string literal (used only where an engine cannot bind a parameter, e.g. file paths in table functions). */
  quoteString(value: string): string {
    return `'${value.replaceAll("'", "''")}'`;
  }
  /** Constant strings as a comma-separated list of literals (for a list, IN or ENUM). */
  stringList(values: readonly string[]): string {
    return values.map((v) => this.quoteString(v)).join(', ');
  }
  abstract sqlType(type: ColumnType): string;

  createTable(def: TableDef, opts: { ifNotExists?: boolean; temp?: boolean; name?: string } = {}): string {
    const cols = def.columns.map((c) => `  ${this.quoteIdent(c.name)} ${this.sqlType(c.type)}${c.nullable ? '' : ' NOT NULL'}`);
    const head = `CREATE ${opts.temp ? 'TEMP ' : ''}TABLE ${opts.ifNotExists ? 'IF NOT EXISTS ' : ''}${this.quoteIdent(opts.name ?? def.name)}`;
    return `${head} (\n${cols.join(',\n')}\n)`;
  }

  /** A naive local timestamp interpreted in an IANA zone, as a UTC timestamp. */
  abstract localToUtc(localTs: string, zone: string): string;
  /** A UTC timestamp rendered as naive local time in an IANA zone. */
  abstract utcToLocal(utcTs: string, zone: string): string;
  abstract epochSecondsToTs(expr: string): string;
  abstract epochMillisToTs(expr: string): string;
  /** Parses a string to a timestamp, NULL when it does not parse. */
  abstract tryTimestamp(expr: string): string;
  abstract tryCast(expr: string, type: ColumnType): string;
  /**
   * Reads a file into rows of VARCHAR columns. `columns`: a CSV file's header when it is known (files
   * learnpipe writes itself), so it is read as standard CSV without sniffing its dialect first.
   */
  abstract readFile(path: string, format: 'csv' | 'tsv' | 'jsonl' | 'parquet', opts: { rejectsTable?: string; delimiter?: string; columns?: readonly string[] }): string;
}
