// Compiles a source's declarative field mapping into one SQL statement that reads the staged rows and
// produces canonical values plus, for rows that cannot be normalised, a reject reason, the field at
// fault and an explanation. Column names from config are quoted; constants and value maps are bound.
import type { Dialect } from '../engine/dialects/dialect.js';
import type { SqlValue } from '../engine/engine.js';
import type { FileSourceConfig, ObjectSpec, PipelineConfig, TimeSpec, ValueSpec } from '../config/schema.js';
import { EVENT_TYPES } from '../schema/canonical.js';
import { timeToUtc, type Level, type TimeFormat } from './time.js';

export class MappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingError';
  }
}

/** A key column whose distinct raw values are pseudonymised in JS and joined back. */
export interface KeyRole {
  role: 'user' | 'employee_id' | 'email' | 'manager';
  kind: string;
  /** Column of the mapped table holding the raw (trimmed) value. */
  column: string;
  /** Column holding each row's kind, when the source mixes kinds (the fixed kind is the fallback). */
  kindColumn?: string;
}

export interface CompiledMapping {
  /** SELECT producing the mapped rows from the file reader: canonical values and reject reasons. */
  select: string;
  params: SqlValue[];
  keyRoles: KeyRole[];
  /** Canonical columns the SELECT yields, in order, besides the bookkeeping ones (__row, __reject…). */
  columns: string[];
  /**
   * Columns not stored by `select` because they are constants or follow from stored ones (the reject
   * reason and field follow from __check): a view over the stored rows adds them, as alias → expression.
   * Keeping them out of the staged table keeps it small (a NULL text column costs ~6 bytes a row).
   */
  derived: Array<[alias: string, expr: string]>;
  /**
   * Key columns derived from a stored column by a constant prefix, as alias → stored column: the stored
   * column repeats exactly when the key does, so repeats are looked for on it (no concatenation).
   */
  keyHash?: Record<string, string>;
  /** Per-row time zone columns (raw aliases, read in `rawSelect`): their values are the `zones` to compile with, where the dialect needs them. */
  zoneColumns: string[];
  /** The file's rows with their raw values (r_…), before any conversion. */
  rawSelect: string;
}

interface Check {
  reason: string;
  field: string | null;
  when: string;
  detail: string;
}

/** Level of the time results: after the four helper levels of time.ts. */
const TIME_FINAL = 4;

export const TRUE_WORDS = ['1', 'true', 't', 'yes', 'y', 'passed', 'pass'];
export const FALSE_WORDS = ['0', 'false', 'f', 'no', 'n', 'failed', 'fail'];

class Builder {
  readonly params: SqlValue[] = [];
  readonly raw: Level = [];
  readonly levels: Level[] = [];
  readonly out: Array<[string, string]> = [];
  readonly checks: Check[] = [];
  readonly keyRoles: KeyRole[] = [];
  readonly dstGap: string[] = [];
  readonly dstOverlap: string[] = [];
  /** Per time field, the column holding the original offset in minutes. */
  readonly offsets: Record<string, string> = {};
  private jsonPaths: string[] = [];
  lateFlag = 'false';
  readonly zoneColumns: string[] = [];

  constructor(
    readonly d: Dialect,
    readonly source: FileSourceConfig,
    readonly config: PipelineConfig,
    readonly stagedColumns: string[],
    /** The zone names per-row zone columns hold (for dialects that convert per constant zone), or undefined. */
    readonly zones?: readonly string[],
  ) {}

  bind(v: SqlValue): string {
    this.params.push(v);
    return `$${this.params.length}`;
  }

  /** The raw text of a source column (a dotted path for JSON lines), trimmed, NULL when empty. */
  column(name: string, fieldPath: string): string {
    if (this.source.format === 'jsonl') {
      if (!/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/.test(name)) throw new MappingError(`source ${this.source.name}: ${fieldPath}: ${JSON.stringify(name)} is not a JSON path like user.id`);
      let i = this.jsonPaths.indexOf(name);
      if (i < 0) i = this.jsonPaths.push(name) - 1;
      return `nullif(trim(__jx[${i + 1}]), '')`;
    }
    if (!this.stagedColumns.includes(name)) {
      throw new MappingError(
        `source ${this.source.name}: ${fieldPath}: column ${JSON.stringify(name)} is not in the file (its columns are: ${this.stagedColumns.join(', ')})`,
      );
    }
    const q = this.d.quoteIdent(name);
    if (this.source.format === 'parquet') return `nullif(trim(${this.d.toText(q)}), '')`;
    return this.d.trimmedText(q);
  }

  /** Adds a raw column r_<alias> computed from the staged row. */
  rawCol(alias: string, expr: string): string {
    this.raw.push([`r_${alias}`, expr]);
    return `r_${alias}`;
  }

  value(field: string, spec: ValueSpec): string {
    const s = typeof spec === 'string' ? { column: spec } : spec;
    let expr = s.column !== undefined ? this.column(s.column, `fields.${field}.column`) : this.bind(String(s.const));
    if (s.column !== undefined && s.const !== undefined) expr = `coalesce(${expr}, ${this.bind(String(s.const))})`;
    if (s.map && Object.keys(s.map).length) {
      const whens = Object.keys(s.map)
        .sort()
        .map((k) => `WHEN ${this.bind(k)} THEN ${this.bind(s.map![k])}`)
        .join(' ');
      expr = `CASE ${expr} ${whens} ELSE ${expr} END`;
    }
    return this.rawCol(field, expr);
  }

  number(field: string, spec: ValueSpec, integer = false): string {
    const r = this.value(field, spec);
    const scale = typeof spec === 'string' ? undefined : spec.scale;
    const num = this.d.tryCast(r, 'double');
    this.checks.push({ reason: 'bad_number', field, when: `(${r} IS NOT NULL AND n_${field} IS NULL)`, detail: `'not a number: ' || ${r}` });
    const scaled = scale !== undefined ? `(${num} * ${scale})` : num;
    (this.levels[0] ??= []).push([`n_${field}`, integer ? this.d.roundToInt(scaled) : scaled]);
    return `n_${field}`;
  }

  time(field: string, spec: TimeSpec, forceDate = false): string {
    const s = typeof spec === 'string' ? { column: spec, format: (forceDate ? 'date' : 'iso') as TimeFormat } : spec;
    const raw = this.rawCol(field, this.column(s.column, `fields.${field}.column`));
    let zone: string | null = null;
    if (s.format !== 'epoch_s' && s.format !== 'epoch_ms' && s.format !== 'date') {
      const fixed = s.timezone ?? this.config.defaults.timezone;
      if (s.timezone_column) {
        const zcol = this.column(s.timezone_column, `fields.${field}.timezone_column`);
        zone = this.rawCol(`${field}_zone`, fixed ? `coalesce(${zcol}, ${this.bind(fixed)})` : zcol);
      } else if (fixed) zone = this.rawCol(`${field}_zone`, this.bind(fixed));
      else if (s.format === 'local') throw new MappingError(`source ${this.source.name}: fields.${field}: format local needs a timezone or timezone_column (or defaults.timezone)`);
    }
    // A zone from config was validated when the config loaded; only per-row zones need checking.
    const zoneKnown = s.timezone_column ? (z: string) => `${z} IN (SELECT name FROM __zones)` : () => 'true';
    const fixedZone = !s.timezone_column && (s.timezone ?? this.config.defaults.timezone);
    // Engines that need constant zone names convert per zone: the fixed one, or those the file holds.
    const zones = s.timezone_column ? this.zones : fixedZone ? [fixedZone] : undefined;
    if (s.timezone_column && zone) this.zoneColumns.push(zone);
    const t = timeToUtc(this.d, s.format, raw, zone, zoneKnown, `t_${field}`, { ...(fixedZone ? { fixedZone } : {}), ...(zones ? { zones } : {}) });
    t.levels.forEach((lv, i) => (this.levels[i] ??= []).push(...lv));
    // The results once, in a level of their own above the helpers; checks and outputs read them by name.
    const a = (x: string) => `t_${field}_${x}`;
    (this.levels[TIME_FINAL] ??= []).push([a('utc'), t.utc], [a('offset'), t.offsetMinutes], [a('gap'), t.dstGap], [a('overlap'), t.dstOverlap], [a('bad_zone'), t.badZone]);
    const bad = s.format === 'date' ? 'bad_date' : 'bad_timestamp';
    this.checks.push({ reason: 'unknown_time_zone', field, when: a('bad_zone'), detail: `'unknown time zone ' || ${zone ?? "''"}` });
    this.checks.push({ reason: bad, field, when: `(${raw} IS NOT NULL AND ${a('utc')} IS NULL)`, detail: `'cannot read ' || ${raw} || ' as ${s.format === 'date' ? 'a date' : s.format === 'local' ? 'a local time' : s.format === 'iso' && !zone ? 'ISO-8601 with an offset' : s.format}'` });
    if (t.dstGap !== 'false') this.dstGap.push(a('gap'));
    if (t.dstOverlap !== 'false') this.dstOverlap.push(a('overlap'));
    this.offsets[field] = a('offset');
    return a('utc');
  }

  required(field: string, rawCol: string, reason = `missing_${field}`) {
    this.checks.push({ reason, field, when: `${rawCol} IS NULL`, detail: `'${field} is empty'` });
  }

  key(role: KeyRole['role'], kind: string, column: string, fieldPath: string, kindColumn?: string): string {
    const r = this.rawCol(role, this.column(column, fieldPath));
    const k = kindColumn ? this.rawCol(`${role}_kind`, `coalesce(${this.column(kindColumn, `${fieldPath.replace(/column$/, 'kind_column')}`)}, ${this.bind(kind)})`) : undefined;
    this.keyRoles.push({ role, kind, column: r, ...(k ? { kindColumn: k } : {}) });
    return r;
  }

  /** Stable content id: namespace:native-id, or name:<canonical name> for sources that only know names. */
  object(field: 'object' | 'course', spec: ObjectSpec): { id: string; name: string | null } {
    const ns = spec.namespace ?? this.source.name;
    const name = spec.name_column ? this.rawCol(`${field}_name`, this.column(spec.name_column, `fields.${field}.name_column`)) : null;
    if (spec.id_column) {
      const id = this.rawCol(`${field}_native`, this.column(spec.id_column, `fields.${field}.id_column`));
      return { id: `CASE WHEN ${id} IS NOT NULL THEN ${this.bind(ns + ':')} || ${id} END`, name };
    }
    const aliases = this.config.content.aliases;
    const keys = Object.keys(aliases).sort();
    const canonical = keys.length ? `CASE ${name} ${keys.map((k) => `WHEN ${this.bind(k)} THEN ${this.bind(aliases[k])}`).join(' ')} ELSE ${name} END` : name!;
    return { id: `CASE WHEN ${name} IS NOT NULL THEN 'name:' || ${this.d.lowerText(canonical)} END`, name };
  }

  jsonExtract(): string {
    if (this.source.format !== 'jsonl') return '';
    return `, ${this.d.jsonExtractTexts('json_line', this.jsonPaths, (v) => this.bind(v))} AS __jx`;
  }
}

function quoteCols(level: Level): string {
  return level.map(([a, e]) => `${e} AS ${a}`).join(', ');
}

/** Compiles the mapping for one source. `stagedColumns` are the columns found in the file. */
export function compileMapping(d: Dialect, source: FileSourceConfig, config: PipelineConfig, reader: string, stagedColumns: string[], opts: { lateCutoff?: string | null; zones?: readonly string[] } = {}): CompiledMapping {
  const b = new Builder(d, source, config, stagedColumns, opts.zones);
  const nul = (t: 'varchar' | 'integer' | 'double' | 'boolean' | 'timestamp' | 'date') => d.typedNull(t);
  // Expressions with the same value on every row: not worth a column in the staged table.
  const constants = new Set([...(['varchar', 'integer', 'double', 'boolean', 'timestamp', 'date'] as const).map(nul), 'false', 'true']);
  const f = source.fields;
  const out = b.out;
  if (source.format === 'jsonl') {
    b.checks.push({ reason: 'malformed_json', field: null, when: `NOT coalesce(${d.jsonValid('json_line')}, false)`, detail: `'not a JSON object'` });
  }
  let user: string | null = null;
  if (f.user) {
    user = b.key('user', f.user.kind, f.user.column, 'fields.user.column', f.user.kind_column);
    b.required('user', user);
    out.push(['r_user', user]);
  }
  switch (source.target) {
    case 'events': {
      // The source prefix of event ids is added in the view over the staged rows, not stored: a prefixed
      // id is often too long to be stored inline (over 12 bytes), and the staged table of a large file
      // must fit the memory limit. Repeats of the id are repeats of the prefixed id (same prefix).
      const prefix = d.quoteString(source.name + ':');
      const id = b.value('event_id', f.event_id!);
      b.required('event_id', id);
      const type = b.value('event_type', f.event_type!);
      b.required('event_type', type);
      const ts = b.time('timestamp', f.timestamp!);
      // An empty time is a reject like any other (an unreadable one was caught by time() above).
      b.checks.push({ reason: 'missing_timestamp', field: 'timestamp', when: `${ts} IS NULL`, detail: `'timestamp is empty'` });
      b.checks.push({ reason: 'unknown_event_type', field: 'event_type', when: `NOT ${d.inList(EVENT_TYPES, type)}`, detail: `'unknown event type ' || ${type} || ' (map it with fields.event_type.map)'` });
      const dur = f.duration_seconds ? b.number('duration_seconds', f.duration_seconds) : d.typedNull('double');
      b.checks.push({ reason: 'negative_duration', field: 'duration_seconds', when: `coalesce(${dur} < 0, false)`, detail: `'negative duration ' || ${d.toText(dur)}` });
      const obj = f.object ? b.object('object', f.object) : null;
      const course = f.course ? b.object('course', f.course) : null;
      out.push(
        ['event_id', `${prefix} || ${VIEW_ONLY}${id}`],
        // Staged as an ENUM of the canonical types where the engine has one (the staged table of a large
        // file must fit the memory limit); a type outside the list is a reject anyway.
        ['event_type', d.enumOf(EVENT_TYPES, `CASE WHEN ${d.inList(EVENT_TYPES, type)} THEN ${type} END`)],
        ['object_id', obj?.id ?? nul('varchar')],
        ['object_name', obj?.name ?? nul('varchar')],
        ['course_id', course?.id ?? nul('varchar')],
        ['course_name', course?.name ?? nul('varchar')],
        ['timestamp_utc', ts],
        ['tz_offset_minutes', b.offsets.timestamp],
        ['duration_seconds', dur],
      );
      if (opts.lateCutoff) {
        // Rows older than the watermark minus the lookback are too late to admit, unless they repeat an
        // event already loaded (then they are duplicates); the loader decides after deduplication.
        b.lateFlag = `coalesce(${ts} < CAST(${b.bind(opts.lateCutoff)} AS ${d.sqlType('timestamp')}), false)`;
      }
      break;
    }
    case 'assessments': {
      const id = b.value('assessment_id', f.assessment_id!);
      b.required('assessment_id', id);
      const ts = b.time('submitted_at', f.submitted_at!);
      b.checks.push({ reason: 'bad_timestamp', field: 'submitted_at', when: `${ts} IS NULL`, detail: `'submitted_at is empty or unreadable'` });
      const score = f.score ? b.number('score', f.score) : nul('double');
      const max = f.max_score ? b.number('max_score', f.max_score) : nul('double');
      b.checks.push({ reason: 'score_out_of_range', field: 'score', when: `coalesce(${score} < 0 OR ${score} > ${max}, false)`, detail: `'score ' || ${d.toText(score)} || ' outside 0..' || ${d.toText(max)}` });
      const passedRaw = f.passed ? b.value('passed', f.passed) : null;
      const passed = passedRaw
        ? `CASE WHEN ${d.lowerText(passedRaw)} IN (${d.stringList(TRUE_WORDS)}) THEN true WHEN ${d.lowerText(passedRaw)} IN (${d.stringList(FALSE_WORDS)}) THEN false END`
        : nul('boolean');
      if (passedRaw) b.checks.push({ reason: 'bad_boolean', field: 'passed', when: `(${passedRaw} IS NOT NULL AND ${passed} IS NULL)`, detail: `'not a yes/no value: ' || ${passedRaw}` });
      const obj = f.object ? b.object('object', f.object) : null;
      out.push(
        ['assessment_id', `${b.bind(source.name + ':')} || ${id}`],
        ['object_id', obj?.id ?? nul('varchar')],
        ['object_name', obj?.name ?? nul('varchar')],
        ['attempt', f.attempt ? b.number('attempt', f.attempt, true) : nul('integer')],
        ['score', score],
        ['max_score', max],
        ['passed', passed],
        ['submitted_at', ts],
      );
      break;
    }
    case 'enrollments': {
      const course = b.object('course', f.course!);
      b.checks.push({ reason: 'missing_course', field: 'course', when: `${course.id} IS NULL`, detail: `'course is empty'` });
      const t = (k: 'enrolled_at' | 'due_at' | 'completed_at') => (f[k] ? b.time(k, f[k]!) : nul('timestamp'));
      out.push(
        ['course_id', course.id],
        ['course_name', course.name ?? nul('varchar')],
        ['enrolled_at', t('enrolled_at')],
        ['due_at', t('due_at')],
        ['completed_at', t('completed_at')],
        ['status', f.status ? d.lowerText(b.value('status', f.status)) : nul('varchar')],
      );
      break;
    }
    case 'hr_records': {
      const from = b.time('effective_from', f.effective_from!, true);
      b.checks.push({ reason: 'bad_date', field: 'effective_from', when: `${from} IS NULL`, detail: `'effective_from is empty or unreadable'` });
      const to = f.effective_to ? b.time('effective_to', f.effective_to, true) : nul('date');
      const text = (k: 'employment_status' | 'role_level' | 'department' | 'performance_rating' | 'salary_band', lower = false) =>
        f[k] ? (lower ? d.lowerText(b.value(k, f[k]!)) : b.value(k, f[k]!)) : nul('varchar');
      if (f.email) out.push(['r_email', b.key('email', 'email', f.email, 'fields.email')]);
      out.push(
        ['effective_from', from],
        ['effective_to', to],
        ['employment_status', text('employment_status', true)],
        ['role_level', text('role_level')],
        ['r_manager', f.manager ? b.key('manager', f.manager.kind, f.manager.column, 'fields.manager.column') : nul('varchar')],
        ['department', text('department')],
        ['hire_date', f.hire_date ? b.time('hire_date', f.hire_date, true) : nul('date')],
        ['performance_rating', text('performance_rating')],
        ['salary_band', text('salary_band')],
      );
      break;
    }
    case 'users': {
      out.push(
        ['r_employee_id', f.employee_id ? b.key('employee_id', 'employee_id', f.employee_id, 'fields.employee_id') : nul('varchar')],
        ['r_email', f.email ? b.key('email', 'email', f.email, 'fields.email') : nul('varchar')],
      );
      break;
    }
  }

  // Which check failed first is computed once per row (__check); reason, field and detail follow from it.
  const byCheck = (pick: (c: Check) => string) =>
    b.checks.length ? `CASE __check ${b.checks.map((c, i) => `WHEN ${i + 1} THEN ${pick(c)}`).join(' ')} END` : nul('varchar');
  const checkLevel: Level = [['__check', b.checks.length ? `CASE ${b.checks.map((c, i) => `WHEN ${c.when} THEN ${i + 1}`).join(' ')} END` : nul('integer')]];
  const bookkeeping: Array<[string, string]> = [
    ['__check', b.checks.length > 255 ? '__check' : d.smallCode('__check')],
    ['__detail', byCheck((c) => c.detail)],
    ['__dst_gap', b.dstGap.length ? b.dstGap.map((g) => `coalesce(${g}, false)`).join(' OR ') : 'false'],
    ['__too_late', b.lateFlag],
    ['__dst_overlap', b.dstOverlap.length ? b.dstOverlap.map((g) => `coalesce(${g}, false)`).join(' OR ') : 'false'],
  ];
  // Derived from __check in the view over the staged rows instead of stored for every row.
  const derived: Array<[string, string]> = [
    ['__reject', byCheck((c) => `'${c.reason}'`)],
    ['__field', byCheck((c) => (c.field ? `'${c.field}'` : nul('varchar')))],
  ];

  // Nesting: file reader → raw values → helper levels → which check failed → canonical values.
  let sql = `SELECT *${b.jsonExtract()} FROM ${reader}`;
  sql = `SELECT *, ${quoteCols(b.raw)} FROM (${sql}) s0`;
  const rawSelect = sql;
  [...b.levels, checkLevel].forEach((lv, i) => {
    if (lv?.length) sql = `SELECT *, ${quoteCols(lv)} FROM (${sql}) s${i + 1}`;
  });
  // Text files: a rejected row's raw text is read back from the file by line (see load.ts). Parquet has
  // no lines, so the original values of rejected rows are kept as JSON.
  const original: [string, string] =
    source.format === 'parquet'
      ? ['__raw', `CASE WHEN __check IS NOT NULL THEN ${d.rowJson(stagedColumns)} END`]
      : ['__raw', nul('varchar')];
  const keyRaw: Array<[string, string]> = b.keyRoles
    .flatMap((k) => [k.column, ...(k.kindColumn ? [k.kindColumn] : [])])
    .filter((c) => !out.some(([a]) => a === c))
    .map((c) => [c, c]);
  const columns = out.map(([a]) => a);
  const stored: Array<[string, string]> = [];
  let keyHash: Record<string, string> | undefined;
  // The file position of each row, where the reader gives it (see Dialect.filePosition).
  const pos = d.filePosition();
  for (const col of [...(pos ? [[pos, pos] as [string, string]] : []), original, ...keyRaw, ...out, ...bookkeeping]) {
    const i = col[1].indexOf(VIEW_ONLY);
    if (i >= 0) {
      // prefix || VIEW_ONLY raw: the raw value is stored (as __<alias>), the prefixed one derived.
      const raw = `__${col[0]}`;
      stored.push([raw, col[1].slice(i + VIEW_ONLY.length)]);
      derived.push([col[0], `${col[1].slice(0, i)}${raw}`]);
      (keyHash ??= {})[col[0]] = raw;
    } else (constants.has(col[1]) ? derived : stored).push(col);
  }
  sql = `SELECT ${stored.map(([a, e]) => `${e} AS ${a}`).join(',\n  ')}\nFROM (${sql}) s_final`;
  return { select: sql, params: b.params, keyRoles: b.keyRoles, columns, derived, zoneColumns: b.zoneColumns, rawSelect, ...(keyHash ? { keyHash } : {}) };
}

/** Marks, in an output expression `<constant prefix> || VIEW_ONLY<raw>`, a value derived in the view from its stored raw part. */
const VIEW_ONLY = '/*view*/';


