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
  /** Any value as text (timestamps as 'YYYY-MM-DD HH:MM:SS[.ffffff]'). */
  toText(expr: string): string {
    return `CAST(${expr} AS VARCHAR)`;
  }

  // --- catalog, text, hashing (QA checks, run records, privacy scans) ---
  /** The schema (database) unqualified table names resolve to, as a SQL expression. */
  currentSchema(): string {
    return 'current_schema()';
  }
  /** Whether a type name reported by information_schema.columns is the one this dialect gives a column. */
  typeMatches(type: ColumnType, nullable: boolean, reported: string): boolean {
    return reported === this.sqlType(type) || (type === 'json' && reported === 'VARCHAR');
  }
  /**
   * A number as an exact decimal with 9 fractional digits, rounded to nearest (sums of these do not depend
   * on the order a parallel aggregation adds them in).
   */
  exactDecimal(expr: string): string {
    return `CAST(${expr} AS DECIMAL(38, 9))`;
  }
  /**
   * The sum of a DOUBLE expression (over the rows where filter holds), the same whatever order the rows are added in. DuckDB: its sum (a
   * tile sums the few events of one learner-day, which the tests find stable run to run).
   */
  floatSum(expr: string, filter?: string): string {
    return `sum(${expr})${filter ? ` FILTER (WHERE ${filter})` : ''}`;
  }
  /** The texts of a group joined by sep in the order of orderBy. */
  orderedStringAgg(expr: string, sep: string, orderBy: string): string {
    return `string_agg(${expr}, ${this.quoteString(sep)} ORDER BY ${orderBy})`;
  }
  /** A 64-bit hash of the values (for sampling in a stable order; differs between engines). */
  hash(...exprs: string[]): string {
    return `hash(${exprs.join(', ')})`;
  }
  /** FROM-clause text that repeats each row once per element of an array column, the element named alias. */
  unnestJoin(arrayExpr: string, alias: string): string {
    return `, unnest(${arrayExpr}) AS __unnest(${alias})`;
  }
  /** True when the text matches a (RE2) regular expression anywhere. */
  regexpMatches(expr: string, pattern: string): string {
    return `regexp_matches(${expr}, ${pattern})`;
  }
  /** Every match of a (RE2) regular expression replaced (\\1 … refer to groups). */
  regexpReplaceAll(expr: string, pattern: string, replacement: string): string {
    return `regexp_replace(${expr}, ${pattern}, ${replacement}, 'g')`;
  }

  createTable(def: TableDef, opts: { ifNotExists?: boolean; temp?: boolean; name?: string } = {}): string {
    const cols = def.columns.map((c) => `  ${this.quoteIdent(c.name)} ${this.sqlType(c.type)}${c.nullable ? '' : ' NOT NULL'}`);
    const head = `CREATE ${opts.temp ? 'TEMP ' : ''}TABLE ${opts.ifNotExists ? 'IF NOT EXISTS ' : ''}${this.quoteIdent(opts.name ?? def.name)}`;
    return `${head} (\n${cols.join(',\n')}\n)`;
  }

  /** The statements that create a table (one here; ClickHouse on a cluster needs a local and a Distributed table). */
  createTableStatements(def: TableDef, opts: { ifNotExists?: boolean; temp?: boolean; name?: string } = {}): string[] {
    return [this.createTable(def, opts)];
  }

  /** Drops a table created by createTableStatements (for migrations). */
  dropTableStatements(def: TableDef): string[] {
    return [`DROP TABLE IF EXISTS ${this.quoteIdent(def.name)}`];
  }

  /**
   * A naive local timestamp interpreted in an IANA zone, as a UTC timestamp: a time in a DST gap with the
   * offset before the jump (it comes out later), a time in an overlap as the LATER instant (time.ts picks
   * the earlier). `zones`, when given, lists every value `zone` can take (engines whose time zone
   * arguments must be constants convert per listed zone).
   */
  abstract localToUtc(localTs: string, zone: string, zones?: readonly string[]): string;
  /** A UTC timestamp rendered as naive local time in an IANA zone (`zones` as for localToUtc). */
  abstract utcToLocal(utcTs: string, zone: string, zones?: readonly string[]): string;
  abstract epochSecondsToTs(expr: string): string;
  abstract epochMillisToTs(expr: string): string;
  /** Parses a string to a timestamp, NULL when it does not parse. */
  abstract tryTimestamp(expr: string): string;
  abstract tryCast(expr: string, type: ColumnType): string;
  /**
   * Reads a file into rows of VARCHAR columns (`columns`: the CSV header, from describeFile).
   * `knownHeader`: the header of a CSV file learnpipe wrote itself (a landing file), read as standard
   * CSV without sniffing its dialect first where the engine would.
   */
  abstract readFile(path: string, format: 'csv' | 'tsv' | 'jsonl' | 'parquet', opts: { rejectsTable?: string; delimiter?: string; columns?: string[]; knownHeader?: readonly string[] }): string;

  // --- features (tiles, windows, ASOF lookups) ---
  /** A setting to turn off while intermediate tables are built (see withoutInsertionOrder in tiles.ts); null when the engine has none. */
  insertionOrderSetting(): string | null {
    return null;
  }
  /** Removes every row of a table. */
  deleteAll(table: string): string {
    return `DELETE FROM ${table}`;
  }
  /**
   * The statements that delete the rows of `table` (read as `alias`, joined with `using` when given) for
   * which `where` holds; `key` (columns of `table`) identifies a row. Run them in order with the same parameters.
   */
  abstract deleteWhere(table: string, alias: string, where: string, key: string[], using?: string): string[];
  /** An expression identifying a row of a table with these key columns, kept to delete it later (WHERE <it> IN (…)). */
  abstract rowIdentity(key: string[]): string;
  /**
   * Whether the row `outer` (an alias) has a row in `table` with the same `key` values, NULLs matching
   * NULLs in the `nullable` columns.
   */
  hasMatch(outer: string, table: string, inner: string, key: string[], nullable: string[]): string {
    const eq = key.map((c) => `${outer}.${c} ${nullable.includes(c) ? 'IS NOT DISTINCT FROM' : '='} ${inner}.${c}`);
    return `EXISTS (SELECT 1 FROM ${table} ${inner} WHERE ${eq.join(' AND ')})`;
  }
  /** Sets columns of the rows of a table matching `where`. */
  update(table: string, set: string, where: string): string {
    return `UPDATE ${table} SET ${set} WHERE ${where}`;
  }
  /** Whether `later` is more than `interval` (an INTERVAL n SECOND) after `earlier`. */
  gapExceeded(later: string, earlier: string, interval: string): string {
    return `${later} - ${earlier} > ${interval}`;
  }
  /** Seconds (with their fraction) from timestamp `earlier` to timestamp `later`. */
  abstract secondsBetween(later: string, earlier: string): string;
  /** The 1-based position of expr in a list of constant strings, as a 1-byte unsigned integer (NULL when absent). */
  abstract positionCode(values: readonly string[], expr: string): string;
  /** The previous / next value of expr in its window (NULL at the partition's edge, never a type's default). */
  lag(expr: string): string {
    return `lag(${expr})`;
  }
  lead(expr: string): string {
    return `lead(${expr})`;
  }
  /** The keywords of a semi join (rows of the left side with a match) and of an anti join (without one). */
  abstract semiJoin(): string;
  abstract antiJoin(): string;
  /** Every column of a relation (`qualifier` as in "c.", or "") but the ones named. */
  abstract allExcept(qualifier: string, columns: string[]): string;
  /**
   * SELECT day, k: every day from `from` to `to` (dates as text, both included) with the k of the first row
   * of `lookups` (pd DATE, k) whose pd is after the day; days on or after the last pd are left out.
   */
  abstract daysBeforeLookups(from: string, to: string, lookups: string): string;

  // --- spine, labels, training ---
  /** NULL of a column type (ClickHouse needs the Nullable wrapper). */
  typedNull(type: ColumnType): string {
    return `CAST(NULL AS ${this.sqlType(type)})`;
  }
  /** SHA-256 of a string as 64 lower-case hex digits. */
  abstract sha256Hex(expr: string): string;
  /** A timestamp as 'YYYY-MM-DD HH:MM:SS[.ffffff]' without trailing fractional zeros (DuckDB's text form; label and row ids hash it). */
  timestampText(expr: string): string {
    return this.toText(expr);
  }

  // --- ingestion (files, mapping, time, dedupe, identity) ---
  /** Whether a transaction makes a load all-or-nothing (else loads are made idempotent, see ingest.ts). */
  hasTransactions(): boolean {
    return true;
  }
  /** SELECT name: the IANA time zones the engine knows. */
  abstract timeZoneNames(): string;
  /** A query listing the columns of a file, in order, as column_name (or name). */
  abstract describeFile(path: string, format: 'csv' | 'tsv' | 'jsonl' | 'parquet', opts: { delimiter?: string }): string;
  /**
   * The column the reader adds with each row's 0-based position among the file's rows (kept in the staged
   * table), or null when the staged table's own row ids follow file order (see rowPosition).
   */
  filePosition(): string | null {
    return null;
  }
  /** The expression giving a staged row's position in the file (plus a constant base, see load.ts). */
  abstract rowPosition(): string;
  /**
   * Statements that copy a CSV file's malformed lines (line, raw text, detail) into `table`, after the
   * reader ran: `check` (when not null) counts whether there is anything to copy.
   */
  abstract collectMalformed(table: string, path: string, format: 'csv' | 'tsv', opts: { rejectsTable: string; delimiter?: string; columns: string[] }): { check: string | null; insert: string };
  /** A temporary table with nullable columns. */
  createTempTable(name: string, columns: Array<[name: string, type: ColumnType]>): string {
    return this.createTable({ name, key: [], columns: columns.map(([n, type]) => ({ name: n, type, nullable: true })) } as unknown as TableDef, { temp: true });
  }
  /** Statements that make `name` a temporary view of `select` (a table on engines without temporary views). */
  tempView(name: string, select: string): string[] {
    return [`CREATE OR REPLACE TEMP VIEW ${name} AS ${select}`];
  }
  dropTempView(name: string): string {
    return `DROP VIEW IF EXISTS ${name}`;
  }
  /** A timestamp minus a number of days. */
  tsMinusDays(ts: string, days: string): string {
    return `${ts} - to_days(CAST(${days} AS INTEGER))`;
  }
  /** A text column trimmed of spaces, NULL when empty. */
  abstract trimmedText(col: string): string;
  /** Whether a text is valid JSON. */
  abstract jsonValid(expr: string): string;
  /** An array of the texts at JSON paths (dotted, like user.id) of a JSON text (NULL where absent or JSON null); `bind` binds a constant. */
  abstract jsonExtractTexts(expr: string, paths: string[], bind: (v: string) => string): string;
  /** Whether a value is one of constant strings (NULL-safe: false for NULL where the engine has no NULL here). */
  abstract inList(values: readonly string[], expr: string): string;
  /** A text known to be one of `values` (or NULL), stored compactly where the engine can. */
  abstract enumOf(values: readonly string[], expr: string): string;
  /** A number rounded half away from zero, as a 32-bit integer. */
  roundToInt(expr: string): string {
    return `CAST(round(${expr}) AS INTEGER)`;
  }
  /** A small code (1..255 or NULL) stored in one byte. */
  abstract smallCode(expr: string): string;
  /** The named columns of a row as a JSON object text. */
  abstract rowJson(columns: string[]): string;
  /** A 64-bit hash of values' texts, NULLs included (to compare content within one engine). */
  rowHash(exprs: string[]): string {
    return `hash(${exprs.map((c) => `CAST(${c} AS VARCHAR)`).join(", '|', ")})`;
  }
  /** The value of `expr` on the row with the largest `by` (NULL when that row's value is NULL). */
  argMax(expr: string, by: string): string {
    return `arg_max(${expr}, ${by})`;
  }
  /** The non-NULL value of `expr` on the row with the largest `by` tuple. */
  latestNonNull(expr: string, by: string[]): string {
    return `first(${expr} ORDER BY ${by.map((b) => `${b} DESC`).join(', ')}) FILTER (WHERE ${expr} IS NOT NULL)`;
  }
  /** The values of a group as a list, ordered by `orderBy`. */
  orderedList(expr: string, orderBy: string[]): string {
    return `list(${expr} ORDER BY ${orderBy.join(', ')})`;
  }
  /** Whether any row of the group satisfies cond. */
  boolOr(cond: string): string {
    return `bool_or(${cond})`;
  }
  /** Whether an array holds a value. */
  arrayContains(arr: string, value: string): string {
    return `list_contains(${arr}, ${value})`;
  }
  /** An array with a value appended, sorted. */
  arraySortedAppend(arr: string, value: string): string {
    return `list_sort(list_append(${arr}, ${value}))`;
  }
  /** The first capture group of a regular expression's match (NULL or empty when none). */
  regexpExtract(expr: string, pattern: string, group: number): string {
    return `regexp_extract(${expr}, ${pattern}, ${group})`;
  }
  /** An ISO-8601 text with a UTC offset (or Z) as a UTC timestamp, NULL when it does not parse. */
  tryIsoOffsetToUtc(expr: string): string {
    return `CAST(TRY_CAST(${expr} AS TIMESTAMPTZ) AS TIMESTAMP)`;
  }
  /** A 'YYYY-MM-DD' text as a date, NULL when it is not one. */
  tryDate(expr: string): string {
    return `TRY_CAST(${expr} AS DATE)`;
  }
  /**
   * Sets columns of the rows of `table` that match rows of `from` (read as `alias`) on `keys` (table
   * column, from column); `sets` are (table column, expression over alias); `where` may add conditions on
   * both; `rowKey` are the table's key columns (identifying a row). Statements to run in order.
   */
  updateFrom(table: string, sets: Array<[col: string, expr: string]>, from: string, alias: string, keys: Array<[tableCol: string, fromCol: string]>, where?: string, _rowKey: string[] = []): string[] {
    const on = keys.map(([t, f]) => `${table}.${t} = ${alias}.${f}`).join(' AND ');
    return [`UPDATE ${table} SET ${sets.map(([c, e]) => `${c} = ${e}`).join(', ')} FROM ${from} ${alias} WHERE ${on}${where ? ` AND ${where}` : ''}`];
  }
  /**
   * The number of malformed lines (table of `line`) that came before the staged row at 0-based position
   * `row` (valid rows and malformed lines interleave; `header` lines precede both).
   */
  malformedBefore(row: string, header: number, malformedTable: string): string {
    return `(SELECT count(*) FROM (SELECT line - ${header} - row_number() OVER (ORDER BY line) AS valid_before FROM ${malformedTable}) mf WHERE mf.valid_before <= ${row})`;
  }
  /** Whether time zone arguments must be constants (then localToUtc and utcToLocal need the list of zones). */
  needsZoneList(): boolean {
    return false;
  }
  /** A text in lower case (every letter, not only ASCII). */
  lowerText(expr: string): string {
    return `lower(${expr})`;
  }
}
