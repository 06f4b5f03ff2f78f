// Loads one file of one source in one transaction: stage → map → pseudonymise → dedupe → write the
// canonical rows, the rejects and the bookkeeping. Killing the process at any point leaves the warehouse
// as it was before (the transaction never commits), and the next run loads the file again.
import type { Engine } from '../engine/engine.js';
import type { Dialect } from '../engine/dialects/dialect.js';
import type { FileSourceConfig, PipelineConfig } from '../config/schema.js';
import type { Pseudonymizer } from '../privacy/pseudonym.js';
import { collectMalformed, describeFile, MALFORMED, prepareRejects, readerSql, readLines, SourceReadError, type SourceFile } from '../sources/files.js';
import { compileMapping, type CompiledMapping } from './mapping.js';
import { identityOptions, linkEmailHashes, pseudonymizeKeys, registerKeys, resolveIdentities } from './identity.js';
import { vaultKeysFromTable, vaultPiiFromTable, type Vault } from '../privacy/vault.js';
import { piiFindSql, piiRedactSql } from '../privacy/pii-scan.js';

export interface LoadResult {
  load_id: number;
  source: string;
  input: string;
  sha256: string;
  target: string;
  rows_read: number;
  accepted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  dst_gap: number;
  dst_overlap: number;
  late: number;
  watermark_before: string | null;
  watermark_after: string | null;
  /** Earliest event time among accepted rows: where incremental recomputation must start. */
  min_event_time: string | null;
  /** Values of free-text fields that held personal data and were redacted. */
  pii_redacted: number;
  rejects_by_reason: Record<string, number>;
}

/** The mapped rows (a table), the same with their position in the file (a view), and with people resolved (a view). */
const MAPPED = '__m';
const M = '__mb';
const MK = '__mk';

/** Per target: the key that identifies a row, how repeats are treated, and the content compared for duplicates. */
const TARGETS = {
  events: { key: ['event_id'], mode: 'first_wins', content: ['user_id', 'event_type', 'object_id', 'course_id', 'timestamp_utc', 'duration_seconds'], time: 'timestamp_utc' },
  assessments: { key: ['assessment_id'], mode: 'first_wins', content: ['user_id', 'object_id', 'attempt', 'score', 'max_score', 'passed', 'submitted_at'], time: 'submitted_at' },
  enrollments: { key: ['user_id', 'course_id'], mode: 'last_wins', content: ['enrolled_at', 'due_at', 'completed_at', 'status'], time: null },
  hr_records: { key: ['user_id', 'effective_from'], mode: 'last_wins', content: ['effective_to', 'employment_status', 'role_level', 'manager_id', 'department', 'hire_date', 'performance_rating', 'salary_band'], time: null },
  identity_links: { key: ['source', 'key_kind', 'key_pseudonym'], mode: 'last_wins', content: ['employee_id_pseudonym', 'email_pseudonym'], time: null },
} as const;

function ts(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString().replace('T', ' ').replace('Z', '').replace(/\.000$/, '');
  return String(v);
}

export async function nextLoadId(engine: Engine): Promise<number> {
  const r = await engine.one<{ id: number }>(`SELECT coalesce(max(load_id), 0) + 1 AS id FROM loads`);
  return Number(r?.id ?? 1);
}

/** The SELECT that turns mapped rows (alias m, already carrying pseudonyms and person ids) into target rows. */
function targetSelect(source: FileSourceConfig, loadId: number, d: Dialect): { table: string; from: string; cols: string[] } {
  const common = `'${source.name}' AS source, ${loadId} AS load_id`;
  const sel = (table: string, cols: string[], exprs: string[] = cols) => ({
    table,
    cols: [...cols, ...(table === 'identity_links' ? [] : ['source', 'load_id'])],
    from: `SELECT m.__row, ${exprs.map((e, i) => (e === cols[i] ? `m.${e}` : `${e} AS ${cols[i]}`)).join(', ')}${table === 'identity_links' ? '' : `, ${common}`} FROM ${MK} m WHERE m.__check IS NULL`,
  });
  switch (source.target) {
    case 'events':
      return sel('events', ['event_id', 'user_id', 'event_type', 'object_id', 'course_id', 'timestamp_utc', 'tz_offset_minutes', 'duration_seconds']);
    case 'assessments':
      return sel('assessments', ['assessment_id', 'user_id', 'object_id', 'attempt', 'score', 'max_score', 'passed', 'submitted_at']);
    case 'enrollments':
      return sel('enrollments', ['user_id', 'course_id', 'enrolled_at', 'due_at', 'completed_at', 'status']);
    case 'hr_records': {
      const cols = ['user_id', 'effective_from', 'effective_to', 'employment_status', 'role_level', 'manager_id', 'department', 'hire_date', 'performance_rating', 'salary_band'];
      return sel('hr_records', cols, cols.map((c) => (c === 'manager_id' && !source.fields.manager ? d.typedNull('varchar') : c)));
    }
    case 'users':
      return sel(
        'identity_links',
        ['source', 'key_kind', 'key_pseudonym', 'employee_id_pseudonym', 'email_pseudonym'],
        [`'${source.name}'`, 'm.user_kind', 'm.user_pseudonym', source.fields.employee_id ? 'm.employee_id_pseudonym' : d.typedNull('varchar'), source.fields.email ? 'm.email_pseudonym' : d.typedNull('varchar')],
      );
  }
}

/** The source's watermark before this load, its lookback, and the time before which rows are too late. */
async function watermarkOf(engine: Engine, config: PipelineConfig, source: FileSourceConfig): Promise<{ wmBefore: string | null; lookback: number; lateCutoff: string | null }> {
  // Watermark: the newest event time accepted so far; rows older than it minus the lookback are rejected.
  // Timestamps are read as text (a JS Date would drop microseconds).
  const wm = await engine.one<{ w: unknown }>(`SELECT ${engine.dialect.timestampText('watermark_utc')} AS w FROM watermarks WHERE source = $1`, [source.name]);
  const wmBefore = ts(wm?.w ?? null);
  const lookback = source.lookback_days ?? config.defaults.lookback_days;
  let lateCutoff: string | null = null;
  if (wmBefore && source.target === 'events') {
    const r = await engine.one<{ c: unknown }>(`SELECT ${engine.dialect.timestampText(engine.dialect.tsMinusDays(`CAST($1 AS ${engine.dialect.sqlType('timestamp')})`, '$2'))} AS c`, [wmBefore, lookback]);
    lateCutoff = ts(r?.c);
  }
  return { wmBefore, lookback, lateCutoff };
}

interface Staged {
  source: FileSourceConfig;
  config: PipelineConfig;
  path: string;
  sha256: string;
  lateCutoff: string | null;
  columns: string[];
  compiled: CompiledMapping;
}

/** A file staged by stageFile, per engine, waiting for the loadFile call that uses it. */
const staged = new WeakMap<Engine, Staged>();

/** Reads, maps and validates the file into the staged table MAPPED, and its malformed lines into MALFORMED. */
async function stage(engine: Engine, config: PipelineConfig, source: FileSourceConfig, file: SourceFile, lateCutoff: string | null): Promise<{ columns: string[]; compiled: CompiledMapping }> {
  const columns = await describeFile(engine, source, file);
  const reader = readerSql(engine, source, file, { captureRejects: true, columns });
  let compiled = compileMapping(engine.dialect, source, config, reader, columns, { lateCutoff });
  await prepareRejects(engine);
  await engine.run(`DROP TABLE IF EXISTS ${MAPPED}`);
  try {
    if (compiled.zoneColumns.length && engine.dialect.needsZoneList()) {
      // Time zone names must be constants here: the known zones the file names, then compile again with them.
      const zones = await engine.all<{ z: string }>(
        `SELECT DISTINCT z FROM (${compiled.zoneColumns.map((c) => `SELECT ${c} AS z FROM (${compiled.rawSelect}) r`).join(' UNION ALL ')}) zs WHERE z IN (SELECT name FROM __zones) ORDER BY z`,
        compiled.params,
      );
      compiled = compileMapping(engine.dialect, source, config, reader, columns, { lateCutoff, zones: zones.map((r) => r.z) });
    }
    await engine.run(`CREATE TEMPORARY TABLE ${MAPPED} AS ${compiled.select}`, compiled.params);
  } catch (err) {
    throw new SourceReadError(`source ${source.name}: cannot read ${file.relPath}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  await collectMalformed(engine, source, file, columns);
  return { columns, compiled };
}

/**
 * Stages a file for the next loadFile of the same source, file and content, to be called OUTSIDE a
 * transaction, just before the one that loads it. DuckDB scans a table created inside the running
 * transaction on one thread only (it sits in the transaction's local storage), so a staging table
 * created there made every later pass over the file's rows (keys, repeats, the insert, the counts)
 * single-threaded. Staged outside, the table is committed and scanned in parallel, the events insert
 * included (see loadFile on row order). The staging tables are temporary: a crash leaves the warehouse
 * untouched, and the load still runs in one transaction. loadFile stages again, inside its transaction,
 * when nothing (or something else) was staged, or when the watermark moved in between.
 */
export async function stageFile(engine: Engine, config: PipelineConfig, source: FileSourceConfig, file: SourceFile, sha256: string): Promise<void> {
  staged.delete(engine);
  const { lateCutoff } = await watermarkOf(engine, config, source);
  const { columns, compiled } = await stage(engine, config, source, file, lateCutoff);
  staged.set(engine, { source, config, path: file.path, sha256, lateCutoff, columns, compiled });
}

/**
 * Loads one file. Runs inside the caller's transaction (see ingest.ts), which also records the file
 * as loaded; nothing here commits on its own.
 */
export async function loadFile(
  engine: Engine,
  config: PipelineConfig,
  source: FileSourceConfig,
  file: SourceFile,
  sha256: string,
  pz: Pseudonymizer,
  opts: { loadId: number; asOf: string | null; vault?: Vault | null },
): Promise<LoadResult> {
  const loadId = opts.loadId;
  const isEventLike = source.target === 'events' || source.target === 'assessments';
  const { wmBefore, lookback, lateCutoff } = await watermarkOf(engine, config, source);

  // One pass over the file: read, map, validate (staged before the transaction by stageFile when the
  // caller did so for this very file and watermark; otherwise here, inside the caller's transaction).
  const pre = staged.get(engine);
  staged.delete(engine);
  const preStaged = Boolean(pre && pre.source === source && pre.config === config && pre.path === file.path && pre.sha256 === sha256 && pre.lateCutoff === lateCutoff);
  const { columns, compiled } =
    preStaged && pre
      ? pre
      : await stage(engine, config, source, file, lateCutoff);
  // Row ids of the staged table follow insertion (file) order from an arbitrary base (inside a
  // transaction), so a row's position in the file is its row id minus the smallest (engines without row
  // ids keep the reader's position in a column; see Dialect.rowPosition).
  const d = engine.dialect;
  const pos = d.rowPosition();
  const base = Number((await engine.one<{ b: unknown }>(`SELECT coalesce(min(${pos}), 0) AS b FROM ${MAPPED}`))?.b ?? 0);
  const derived = compiled.derived.map(([a, e]) => `, ${e} AS ${a}`).join('');
  const isDerived = (col: string) => compiled.derived.some(([a]) => a === col);

  // Free-text fields that may carry personal data: redact (or refuse) emails, phone numbers and ids.
  let piiRedacted = 0;
  for (const f of source.free_text) {
    if (isDerived(f)) continue; // not mapped: always empty
    const found = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM ${MAPPED} WHERE ${piiFindSql(f, undefined, d)}`))?.n ?? 0);
    if (found && config.privacy.pii_action === 'fail') {
      throw new SourceReadError(`source ${source.name}: ${file.relPath}: ${found} value(s) of ${f} look like personal data (an email, phone number or national id); clean the source or set privacy.pii_action: redact`);
    }
    // A content id made from the name (sources that know content by title only) is redacted with it.
    const idCol = f === 'object_name' ? 'object_id' : 'course_id';
    if (found) await engine.run(d.update(MAPPED, `${f} = ${piiRedactSql(f, undefined, d)}, ${idCol} = CASE WHEN ${idCol} LIKE 'name:%' THEN 'name:' || ${d.lowerText(piiRedactSql(f, undefined, d))} ELSE ${idCol} END`, piiFindSql(f, undefined, d)));
    piiRedacted += found;
  }
  // The staged rows with their position in the file (a view, or a table where views cannot be temporary:
  // made after the redaction above, so it sees it).
  for (const sql of d.tempView(M, `SELECT ${pos} - ${base} AS __row, *${derived} FROM ${MAPPED}`)) await engine.run(sql);

  // Pseudonymise the distinct keys (few, in JS), then resolve people through the identity map.
  await pseudonymizeKeys(engine, pz, compiled.keyRoles, M);
  await registerKeys(engine, source.name);
  // The vault keeps what only key holders may see: each pseudonym's raw identifiers, and the source's
  // PII columns (read from the file here; they never enter a warehouse table).
  if (opts.vault) {
    await vaultKeysFromTable(engine, opts.vault, source.name);
    if (source.pii_columns.length && source.fields.user && source.format !== 'jsonl') {
      const missing = source.pii_columns.filter((c) => !columns.includes(c));
      if (missing.length) throw new SourceReadError(`source ${source.name}: pii_columns ${missing.join(', ')} not in ${file.relPath} (it has: ${columns.join(', ')})`);
      const q = engine.dialect.quoteIdent;
      await engine.run(`DROP TABLE IF EXISTS __pii`);
      await engine.run(`CREATE TEMPORARY TABLE __pii AS SELECT DISTINCT ${[source.fields.user.column, ...source.pii_columns].map((c) => q.call(engine.dialect, c)).join(', ')} FROM ${readerSql(engine, source, file, { captureRejects: false, columns })}`);
      await vaultPiiFromTable(engine, opts.vault, { source: source.name, table: '__pii', keyColumn: source.fields.user.column, kind: source.fields.user.kind, piiColumns: source.pii_columns, pz });
      await engine.run(`DROP TABLE __pii`);
    }
  }
  const joins: string[] = [];
  const keyCols: string[] = [];
  // Each role's few distinct keys are resolved to people first (a small table), so the mapped rows
  // need one join per role, on the raw value.
  for (const r of compiled.keyRoles) {
    const person = r.role === 'user' || r.role === 'manager';
    await engine.run(`DROP TABLE IF EXISTS __k_${r.role}`);
    await engine.run(`CREATE TEMPORARY TABLE __k_${r.role} AS SELECT k.raw, k.kind, k.pseudonym${person ? ', coalesce(im.user_id, k.pseudonym) AS person' : ''}
      FROM __keys k${person ? ' LEFT JOIN identity_map im ON im.key_kind = k.kind AND im.key_pseudonym = k.pseudonym' : ''} WHERE k.role = '${r.role}'`);
    // A per-row key kind (xAPI: mbox, mbox_sha1sum, account) is part of the key.
    joins.push(`LEFT JOIN __k_${r.role} k_${r.role} ON k_${r.role}.raw = m.${r.column}${r.kindColumn ? ` AND k_${r.role}.kind = m.${r.kindColumn}` : ''}`);
    keyCols.push(`k_${r.role}.kind AS ${r.role}_kind`, `k_${r.role}.pseudonym AS ${r.role}_pseudonym`);
    if (person) keyCols.push(`k_${r.role}.person AS ${r.role === 'user' ? 'user_id' : 'manager_id'}`);
  }
  for (const sql of d.tempView(MK, `SELECT m.*${keyCols.length ? ', ' + keyCols.join(', ') : ''} FROM ${M} m ${joins.join(' ')}`)) await engine.run(sql);

  const spec = TARGETS[source.target === 'users' ? 'identity_links' : source.target];
  const sel = targetSelect(source, loadId, d);
  await engine.run(d.dropTempView('__cand'));
  const contentHash = d.rowHash([...spec.content]);
  const keyEq = (a: string, b: string) => spec.key.map((k) => `${a}.${k} IS NOT DISTINCT FROM ${b}.${k}`).join(' AND ');
  const keyList = spec.key.join(', ');

  // Classify repeats. Only keys that occur twice in the batch or already exist are examined, so the
  // common case (all new, all distinct) costs one aggregation, of the keys' hashes: a key can only
  // repeat if its hash does, and grouping integers is far cheaper than grouping text.
  for (const sql of d.tempView('__cand', sel.from)) await engine.run(sql);
  await engine.run(`DROP TABLE IF EXISTS __repeat`);
  // Keys that do not involve people (event and attempt ids) are found without resolving identities.
  const keySrc0 = spec.key.some((k) => ['user_id', 'key_pseudonym', 'source'].includes(k)) ? '__cand' : null;
  // A key made of a constant prefix and a stored column is hashed on the stored column (same repeats).
  const rawKeys = !keySrc0 && spec.key.every((k) => compiled.keyHash?.[k]) ? spec.key.map((k) => compiled.keyHash![k]) : null;
  const keySrc = keySrc0 ?? `(SELECT ${keyList}${rawKeys ? `, ${rawKeys.join(', ')}` : ''} FROM ${M} WHERE __check IS NULL)`;
  const keyHash = d.hash(...(rawKeys ?? [...spec.key]));
  // Rows already loaded can only repeat when the target holds any.
  const targetEmpty = !(await engine.one(`SELECT 1 AS x FROM ${sel.table} LIMIT 1`));
  await engine.run(`DROP TABLE IF EXISTS __hrepeat`);
  await engine.run(`CREATE TEMPORARY TABLE __hrepeat AS SELECT ${keyHash} AS h FROM ${keySrc} c GROUP BY h HAVING count(*) > 1`);
  const hashRepeats = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM __hrepeat`))?.n ?? 0) > 0;
  const inBatch = `SELECT ${keyList} FROM ${keySrc} c WHERE ${keyHash} IN (SELECT h FROM __hrepeat) GROUP BY ${keyList} HAVING count(*) > 1`;
  const loaded = `SELECT ${spec.key.map((k) => `c.${k}`).join(', ')} FROM ${keySrc} c WHERE ${d.hasMatch('c', sel.table, 'e', [...spec.key], [...spec.key])}`;
  const parts = [...(hashRepeats ? [inBatch] : []), ...(targetEmpty ? [] : [loaded])];
  await engine.run(parts.length ? `CREATE TEMPORARY TABLE __repeat AS ${parts.join(' UNION ')}` : `CREATE TEMPORARY TABLE __repeat AS SELECT ${keyList} FROM ${keySrc} c LIMIT 0`);
  const repeats = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM __repeat`))?.n ?? 0);
  await engine.run(`DROP TABLE IF EXISTS __class`);
  const firstWins = spec.mode === 'first_wins';
  if (!repeats) await engine.run(d.createTempTable('__class', [['__row', 'bigint'], ['status', 'varchar']]));
  else await engine.run(`CREATE TEMPORARY TABLE __class AS
    WITH rows AS (
      SELECT c.__row, ${spec.key.map((k) => `c.${k}`).join(', ')}, ${contentHash} AS h FROM __cand c ${d.semiJoin()} __repeat r ON ${keyEq('r', 'c')}
      UNION ALL
      SELECT -1 AS __row, ${spec.key.map((k) => `e.${k}`).join(', ')}, ${contentHash} AS h FROM ${sel.table} e ${d.semiJoin()} __repeat r ON ${keyEq('r', 'e')}
    ),
    ranked AS (
      SELECT *, row_number() OVER (PARTITION BY ${keyList} ORDER BY __row) AS n,
        first_value(h) OVER (PARTITION BY ${keyList} ORDER BY __row) AS first_h,
        last_value(h) OVER (PARTITION BY ${keyList} ORDER BY __row ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS last_h,
        max(__row) OVER (PARTITION BY ${keyList}) AS last_row,
        count(*) FILTER (WHERE h IS NOT DISTINCT FROM rows.h) OVER (PARTITION BY ${keyList}, h ORDER BY __row ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS same_before
      FROM rows)
    SELECT __row,
      CASE ${firstWins
        ? `WHEN n = 1 THEN 'accept' WHEN h IS NOT DISTINCT FROM first_h THEN 'duplicate' ELSE 'conflict'`
        : `WHEN same_before > 0 THEN 'duplicate' WHEN __row = last_row THEN 'accept' ELSE 'superseded'`} END AS status
    FROM ranked WHERE __row >= 0`);

  // Too late to admit: rows older than the watermark minus the lookback that are not repeats of a loaded row.
  // (Without a watermark the flag is the constant false.)
  if (!isDerived('__too_late')) {
    await engine.run(d.update('__class', `status = 'late'`, `status = 'accept' AND __row IN (SELECT __row FROM ${M} WHERE __too_late)`));
    await engine.run(`INSERT INTO __class SELECT m.__row, 'late' FROM ${M} m WHERE m.__too_late AND m.__check IS NULL AND NOT ${d.hasMatch('m', '__class', 'x', ['__row'], [])}`);
  }
  // Most batches have no repeat and nothing late: then no row needs excluding, and no scan joins __class.
  const classified = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM __class WHERE status <> 'accept'`))?.n ?? 0) > 0;

  const cols = sel.cols.join(', ');
  if (firstWins) {
    // The joins above (people, rows left out) are hash joins, after which DuckDB keeps no row order: it
    // writes the rows from all threads as they come (from a staged table created inside the transaction,
    // scanned on one thread, they land in file order). So the events of one load sit in the table in an
    // order that may differ from run to run, while the rows are the same: nothing reads events by their
    // position (features, labels and checks aggregate, join or test existence; exports sort), and
    // repeats are decided above from the file position (__row), never from the table's order.
    // Measured alternatives that keep file order in parallel cost more: ORDER BY __row sorts (and
    // spills) the whole batch; people looked up through an ENUM and a list instead of a join gave a
    // parallel batch insert but more CPU per row and a peak RSS over 2 GB on the 10M-row benchmark.
    await engine.run(`INSERT INTO ${sel.table} (${cols}) SELECT ${cols} FROM __cand c${classified ? ` ${d.antiJoin()} (SELECT __row FROM __class WHERE status <> 'accept') x ON x.__row = c.__row` : ''}`);
  } else {
    // Last wins: the batch's final version of each key replaces what the warehouse held.
    await engine.run(`DROP TABLE IF EXISTS __winners`);
    await engine.run(`CREATE TEMPORARY TABLE __winners AS SELECT * FROM __cand c WHERE NOT ${d.hasMatch('c', `(SELECT __row FROM __class WHERE status <> 'accept')`, 'x', ['__row'], [])}
      QUALIFY row_number() OVER (PARTITION BY ${keyList} ORDER BY __row DESC) = 1`);
    for (const sql of d.deleteWhere(sel.table, 't', d.hasMatch('t', '__winners', 'w', [...spec.key], [...spec.key]), [...spec.key])) await engine.run(sql);
    await engine.run(`INSERT INTO ${sel.table} (${cols}) SELECT ${cols} FROM __winners ORDER BY __row`);
  }

  // Every count in one scan of the mapped rows (plus the small classification and malformed tables).
  const notAccepted = `(SELECT __row FROM __class WHERE status <> 'accept')`;
  // An accepted row: mapped without a reject reason (__check is NULL) and not classified otherwise.
  const ok = `m.__check IS NULL${classified ? ' AND x.__row IS NULL' : ''}`;
  const counts = await engine.one<Record<string, unknown>>(
    `SELECT count(*) AS staged, count(*) FILTER (WHERE m.__check IS NOT NULL) AS mapped_rejects,
       count(*) FILTER (WHERE ${ok} AND m.__dst_gap) AS dst_gap,
       count(*) FILTER (WHERE ${ok} AND m.__dst_overlap) AS dst_overlap
       ${spec.time ? `, ${d.timestampText(`min(m.${spec.time}) FILTER (WHERE ${ok})`)} AS min_t,
         ${d.timestampText(`max(m.${spec.time}) FILTER (WHERE ${ok})`)} AS max_t,
         count(*) FILTER (WHERE ${ok} AND m.${spec.time} < CAST($1 AS ${d.sqlType('timestamp')})) AS late` : ''},
       (SELECT count(*) FROM ${MALFORMED}) AS malformed,
       (SELECT count(*) FROM __class WHERE status = 'duplicate') AS duplicates,
       (SELECT count(*) FROM __class WHERE status = 'conflict') AS conflicts,
       (SELECT count(*) FROM __class WHERE status = 'late') AS too_late
     FROM ${M} m${classified ? ` LEFT JOIN ${notAccepted} x ON x.__row = m.__row` : ''}`,
    spec.time ? [wmBefore ?? '1900-01-01'] : undefined,
  );
  // Rejects: mapping failures, conflicting repeats, rows too late and malformed lines, each with
  // file:line (rows are numbered past the header and the malformed lines before them) and raw text.
  const header = source.format === 'csv' || source.format === 'tsv' ? 1 : 0;
  const file$ = d.quoteString(file.relPath);
  const conflictDetail = firstWins ? `'same ${spec.key.join('+')} as an earlier row with different content; the first loaded is kept'` : `''`;
  await engine.run(`DROP TABLE IF EXISTS __rej`);
  await engine.run(`DROP TABLE IF EXISTS __rej0`);
  await engine.run(`CREATE TEMPORARY TABLE __rej0 AS
    SELECT r.__row, r.__row + 1 + ${header} + ${d.malformedBefore('r.__row', header, MALFORMED)} AS line,
      r.reason, r.field, r.detail, ${isDerived('__raw') ? d.typedNull('varchar') : 's.__raw'} AS raw
    FROM (
      SELECT __row, __reject AS reason, __field AS field, __detail AS detail FROM ${M} WHERE __check IS NOT NULL
      UNION ALL SELECT __row, 'conflicting_duplicate', '${spec.key.join('+')}', ${conflictDetail} FROM __class WHERE status = 'conflict'
      UNION ALL SELECT __row, 'late_beyond_lookback', 'timestamp', 'older than the source watermark minus lookback_days (${lookback}); raise lookback_days to admit it' FROM __class WHERE status = 'late'
    ) r${isDerived('__raw') ? '' : ` JOIN ${MAPPED} s ON s.${pos} = r.__row + ${base}`}`);
  if (source.format !== 'parquet') {
    const lines = (await engine.all<{ line: number }>(`SELECT DISTINCT line FROM __rej0 ORDER BY line`)).map((r) => Number(r.line));
    const raw = await readLines(file.path, lines);
    await engine.run(`DROP TABLE IF EXISTS __rawlines`);
    await engine.run(d.createTempTable('__rawlines', [['line', 'bigint'], ['raw', 'varchar']]));
    await engine.appendRows('__rawlines', [...raw]);
    // The raw text of each rejected line (a new table: not every engine updates from a join).
    await engine.run(`CREATE TEMPORARY TABLE __rej AS SELECT r.__row, r.line, r.reason, r.field, r.detail, coalesce(l.raw, r.raw) AS raw FROM __rej0 r LEFT JOIN __rawlines l ON l.line = r.line`);
  } else await engine.run(`CREATE TEMPORARY TABLE __rej AS SELECT * FROM __rej0`);
  const where = source.format === 'parquet' ? `${file$} || ':row ' || (__row + 1)` : `${file$} || ':' || line`;
  // The raw text of a rejected row may hold personal data. Sources with PII columns keep it in the
  // vault only; for the others, emails, phone numbers and ids in it are redacted.
  const piiSource = source.pii_columns.length > 0;
  if (piiSource && opts.vault) {
    const raws = await engine.all<{ loc: string; raw: string | null }>(
      `SELECT ${where} AS loc, raw FROM __rej UNION ALL SELECT ${file$} || ':' || line, raw FROM ${MALFORMED} ORDER BY 1`,
    );
    for (const r of raws) if (r.raw !== null) opts.vault.put(`reject:${source.name}:${r.loc}`, source.name, { raw: r.raw });
  }
  const rawSql = (col: string) => (piiSource ? d.typedNull('varchar') : piiRedactSql(col, undefined, d));
  await engine.run(`INSERT INTO rejects (source, load_id, location, reason, field, detail, raw)
    SELECT '${source.name}', ${loadId}, ${where}, reason, field, detail, ${rawSql('raw')} FROM __rej ORDER BY __row`);
  await engine.run(`INSERT INTO rejects (source, load_id, location, reason, field, detail, raw)
    SELECT '${source.name}', ${loadId}, ${file$} || ':' || line, 'malformed_line', NULL, detail, ${rawSql('raw')} FROM ${MALFORMED} ORDER BY line`);

  // An HR record links its employee id to the email it carries (the latest row of the batch wins).
  if (source.target === 'hr_records') {
    const userKeys = `(SELECT kind AS key_kind, pseudonym AS key_pseudonym FROM __keys WHERE role = 'user')`;
    for (const sql of d.deleteWhere('identity_links', 'l', `l.source = ${d.quoteString(source.name)} AND ${d.hasMatch('l', userKeys, 'k', ['key_kind', 'key_pseudonym'], [])}`, ['source', 'key_kind', 'key_pseudonym'])) await engine.run(sql);
    await engine.run(`INSERT INTO identity_links (source, key_kind, key_pseudonym, employee_id_pseudonym, email_pseudonym)
      SELECT '${source.name}', user_kind, user_pseudonym, CASE WHEN user_kind = 'employee_id' THEN user_pseudonym END, ${source.fields.email ? d.argMax('email_pseudonym', '__row') : 'NULL'}
      FROM ${MK} WHERE __check IS NULL AND user_pseudonym IS NOT NULL GROUP BY user_kind, user_pseudonym ORDER BY user_kind, user_pseudonym`);
  }

  // People directories: each email also links the xAPI mbox_sha1sum of that address to the person.
  if (source.target === 'hr_records' || source.target === 'users') await linkEmailHashes(engine, source, MK);

  // Content names and ids seen in this batch (events and assessments carry objects).
  if (isEventLike) await mergeContent(engine, source, sel.table === 'events' ? 'timestamp_utc' : 'submitted_at', classified);

  const n = (k: string) => Number(counts?.[k] ?? 0);
  const rowsRead = n('staged') + n('malformed');
  const rejected = n('mapped_rejects') + n('conflicts') + n('too_late') + n('malformed');
  const duplicates = n('duplicates');
  const accepted = rowsRead - rejected - duplicates;
  const maxT = ts(counts?.max_t);
  const wmAfter = source.target === 'events' ? ([wmBefore, maxT].filter(Boolean).sort().pop() ?? null) : null;
  if (source.target === 'events' && wmAfter) {
    for (const sql of d.deleteWhere('watermarks', '', 'source = $1', ['source'])) await engine.run(sql, [source.name]);
    await engine.run(`INSERT INTO watermarks VALUES ($1, CAST($2 AS ${d.sqlType('timestamp')}), $3)`, [source.name, wmAfter, loadId]);
  }
  const byReason = await engine.all<{ reason: string; n: number }>(`SELECT reason, count(*) AS n FROM rejects WHERE load_id = $1 GROUP BY 1 ORDER BY 1`, [loadId]);
  const result: LoadResult = {
    load_id: loadId,
    source: source.name,
    input: file.relPath,
    sha256,
    target: source.target,
    rows_read: rowsRead,
    accepted,
    duplicates,
    conflicts: n('conflicts'),
    rejected,
    dst_gap: n('dst_gap'),
    dst_overlap: n('dst_overlap'),
    late: source.target === 'events' && wmBefore ? n('late') : 0,
    watermark_before: wmBefore,
    watermark_after: wmAfter,
    min_event_time: ts(counts?.min_t),
    pii_redacted: piiRedacted,
    rejects_by_reason: Object.fromEntries(byReason.map((r) => [r.reason, Number(r.n)])),
  };
  await engine.run(
    `INSERT INTO loads (load_id, source, input, sha256, as_of, rows_read, accepted, duplicates, conflicts, rejected, dst_gap, dst_overlap, late, watermark_before, watermark_after, target)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, CAST($14 AS ${d.sqlType('timestamp')}), CAST($15 AS ${d.sqlType('timestamp')}), $16)`,
    [loadId, source.name, file.relPath, sha256, opts.asOf, rowsRead, accepted, duplicates, result.conflicts, rejected, result.dst_gap, result.dst_overlap, result.late, wmBefore, wmAfter, source.target],
  );
  await engine.run(`INSERT INTO loaded_files VALUES ($1, $2, $3, $4)`, [source.name, file.relPath, sha256, loadId]);
  await resolveIdentities(engine, identityOptions(config));
  // Saved before the warehouse commits: a crash in between leaves extra vault entries, never missing ones.
  if (opts.vault) opts.vault.save();
  for (const v of ['__cand', MK, M]) await engine.run(d.dropTempView(v));
  for (const t of [MAPPED, '__hrepeat', '__repeat', '__class', '__winners', '__rej0', '__rej', '__rawlines', MALFORMED, ...compiled.keyRoles.map((r) => `__k_${r.role}`)]) await engine.run(`DROP TABLE IF EXISTS ${t}`);
  return result;
}

/** Merges the batch's content ids and names into content_names and content (the latest name is the title). */
async function mergeContent(engine: Engine, source: FileSourceConfig, timeCol: string, classified: boolean): Promise<void> {
  const type = source.fields.object?.type ?? null;
  const d = engine.dialect;
  const exclude = classified ? ` ${d.antiJoin()} (SELECT __row FROM __class WHERE status <> 'accept') x ON x.__row = m.__row` : '';
  const accepted = `(SELECT m.* FROM ${M} m${exclude} WHERE m.__check IS NULL)`;
  const courseCols = source.target === 'events' ? `UNION ALL SELECT course_id, course_name, ${timeCol}, 'course' AS type, course_id AS course FROM ${accepted} a WHERE course_id IS NOT NULL` : '';
  await engine.run(`DROP TABLE IF EXISTS __content_batch`);
  // Aggregated in the same statement: one row per object and name, not per event.
  await engine.run(
    `CREATE TEMPORARY TABLE __content_batch AS
     SELECT object_id, name, min(t) AS first_t, max(t) AS last_t, type, course FROM (
       SELECT object_id, object_name AS name, ${timeCol} AS t, CAST($1 AS VARCHAR) AS type, ${source.target === 'events' ? 'course_id' : d.typedNull('varchar')} AS course FROM ${accepted} a WHERE object_id IS NOT NULL
       ${courseCols}
     ) GROUP BY object_id, name, type, course`,
    [type],
  );
  await engine.run(`DROP TABLE IF EXISTS __names`);
  await engine.run(`CREATE TEMPORARY TABLE __names AS
    SELECT object_id, source, name, min(f) AS first_seen_utc, max(l) AS last_seen_utc FROM (
      SELECT object_id, '${source.name}' AS source, name, min(first_t) AS f, max(last_t) AS l FROM __content_batch WHERE name IS NOT NULL GROUP BY 1, 2, 3
      UNION ALL SELECT object_id, source, name, first_seen_utc, last_seen_utc FROM content_names n
        WHERE n.source = '${source.name}' AND ${d.hasMatch('n', '__content_batch', 'b', ['object_id'], [])}
    ) GROUP BY 1, 2, 3`);
  for (const sql of d.deleteWhere('content_names', 'n', `n.source = '${source.name}' AND ${d.hasMatch('n', '__names', 'b', ['object_id'], [])}`, ['object_id', 'source', 'name'])) await engine.run(sql);
  await engine.run(`INSERT INTO content_names SELECT * FROM __names ORDER BY ALL`);
  await engine.run(`DROP TABLE IF EXISTS __objects`);
  // Two names seen at the same latest time: the greater is the title (the batch rows are read in
  // parallel, so "whichever came first" would not be the same from run to run).
  await engine.run(`CREATE TEMPORARY TABLE __objects AS
    SELECT object_id, ${d.latestNonNull('name', ['t', 'name'])} AS title, max(type) AS type, min(course) AS course_id, min(t) AS first_seen_utc, max(t) AS last_seen_utc FROM (
      SELECT object_id, name, last_t AS t, type, course FROM __content_batch
      UNION ALL SELECT object_id, NULL, first_t, NULL, NULL FROM __content_batch
      UNION ALL SELECT c.object_id, c.title, c.last_seen_utc, c.type, c.course_id FROM content c WHERE ${d.hasMatch('c', '__content_batch', 'b', ['object_id'], [])}
      UNION ALL SELECT c.object_id, NULL, c.first_seen_utc, NULL, NULL FROM content c WHERE ${d.hasMatch('c', '__content_batch', 'b', ['object_id'], [])}
    ) GROUP BY object_id`);
  for (const sql of d.deleteWhere('content', 'c', d.hasMatch('c', '__objects', 'b', ['object_id'], []), ['object_id'])) await engine.run(sql);
  await engine.run(`INSERT INTO content SELECT object_id, title, type, course_id, first_seen_utc, last_seen_utc FROM __objects ORDER BY object_id`);
  for (const t of ['__content_batch', '__names', '__objects']) await engine.run(`DROP TABLE IF EXISTS ${t}`);
}
