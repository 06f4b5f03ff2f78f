// The canonical schema: every table, column, type and description learnpipe writes. This module is the
// single source of truth; DDL, docs, feature_schema.json and QA schema checks are all derived from it.

export type ColumnType = 'varchar' | 'integer' | 'bigint' | 'double' | 'boolean' | 'timestamp' | 'date' | 'json' | 'varchar[]';

/**
 * How sensitive a column is. `pseudonym`: keyed pseudonyms only; `internal`: operational data;
 * `sensitive`: HR fields excluded from outputs unless allowed by name; `raw`: may hold source text
 * (rejects), never published.
 */
export type Sensitivity = 'public' | 'pseudonym' | 'internal' | 'sensitive' | 'raw';

export interface ColumnDef {
  name: string;
  type: ColumnType;
  nullable: boolean;
  description: string;
  sensitivity: Sensitivity;
}

export interface TableDef {
  name: string;
  description: string;
  columns: ColumnDef[];
  /** Columns that identify a row; checked for uniqueness by QA (DuckDB keeps no index, for load speed). */
  key: string[];
}

/** Bumped when a table changes shape; MIGRATIONS in warehouse.ts upgrade older warehouses step by step. */
export const SCHEMA_VERSION = 2;

/** Canonical event types. Sources map their own vocabulary onto these with value maps. */
export const EVENT_TYPES = [
  'login', 'view', 'video_play', 'submit', 'pass', 'fail', 'quiz_start', 'answer', 'comment',
  'forum_post', 'complete', 'enroll', 'unenroll', 'attend',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

const c = (name: string, type: ColumnType, nullable: boolean, sensitivity: Sensitivity, description: string): ColumnDef => ({
  name, type, nullable, sensitivity, description,
});
const source = c('source', 'varchar', false, 'internal', 'Name of the configured source the row came from.');
const loadId = c('load_id', 'bigint', false, 'internal', 'The load that wrote the row (see loads).');

export const events: TableDef = {
  name: 'events',
  description: 'Learning activity, one row per distinct event, deduplicated by event_id.',
  key: ['event_id'],
  columns: [
    c('event_id', 'varchar', false, 'internal', 'Source event id, prefixed with the source namespace so ids from different systems never collide.'),
    c('user_id', 'varchar', false, 'pseudonym', 'Resolved learner pseudonym (HMAC of the anchor identity key).'),
    c('event_type', 'varchar', false, 'public', `Canonical event type: one of ${EVENT_TYPES.join(', ')}.`),
    c('object_id', 'varchar', true, 'public', 'Stable content id (see content); survives renames.'),
    c('course_id', 'varchar', true, 'public', 'Stable id of the course the object belongs to, when known.'),
    c('timestamp_utc', 'timestamp', false, 'internal', 'When the event happened, in UTC.'),
    c('tz_offset_minutes', 'integer', true, 'internal', 'The offset from UTC of the original timestamp, kept for audit (NULL for epoch times).'),
    c('duration_seconds', 'double', true, 'internal', 'Time spent, when the source records it; never negative.'),
    source,
    loadId,
  ],
};

export const users: TableDef = {
  name: 'users',
  description: 'One row per resolved person, with current HR attributes (history lives in hr_records).',
  key: ['user_id'],
  columns: [
    c('user_id', 'varchar', false, 'pseudonym', 'Resolved person pseudonym.'),
    c('source_ids', 'varchar[]', false, 'pseudonym', 'Every source key that resolved to this person, as kind:pseudonym.'),
    c('match_rule', 'varchar', false, 'internal', 'How the person was resolved: employee_id, email, mbox_sha1sum, account, or unmatched.'),
    c('hire_date', 'date', true, 'internal', 'Hire date from the HRIS.'),
    c('employment_status', 'varchar', true, 'internal', 'Current employment status (latest HR record).'),
    c('role_level', 'varchar', true, 'internal', 'Current role level.'),
    c('manager_id', 'varchar', true, 'pseudonym', 'Current manager (a user_id).'),
    c('department', 'varchar', true, 'internal', 'Current department.'),
  ],
};

export const enrollments: TableDef = {
  name: 'enrollments',
  description: 'Course enrolments with due and completion dates.',
  key: ['user_id', 'course_id'],
  columns: [
    c('user_id', 'varchar', false, 'pseudonym', 'Learner pseudonym.'),
    c('course_id', 'varchar', false, 'public', 'Stable course id.'),
    c('enrolled_at', 'timestamp', true, 'internal', 'When the learner enrolled (UTC).'),
    c('due_at', 'timestamp', true, 'internal', 'When the course is due (UTC).'),
    c('completed_at', 'timestamp', true, 'internal', 'When the learner completed it (UTC), NULL if not.'),
    c('status', 'varchar', true, 'internal', 'Enrolment status as the source reports it (normalised to lower case).'),
    source,
    loadId,
  ],
};

export const assessments: TableDef = {
  name: 'assessments',
  description: 'Assessment attempts with scores.',
  key: ['assessment_id'],
  columns: [
    c('assessment_id', 'varchar', false, 'internal', 'Source attempt id, namespaced by source.'),
    c('user_id', 'varchar', false, 'pseudonym', 'Learner pseudonym.'),
    c('object_id', 'varchar', true, 'public', 'Stable id of the assessed content.'),
    c('attempt', 'integer', true, 'internal', 'Attempt number (1 = first).'),
    c('score', 'double', true, 'internal', 'Raw score.'),
    c('max_score', 'double', true, 'internal', 'Maximum possible score.'),
    c('passed', 'boolean', true, 'internal', 'Whether the attempt passed.'),
    c('submitted_at', 'timestamp', false, 'internal', 'When the attempt was submitted (UTC).'),
    source,
    loadId,
  ],
};

export const content: TableDef = {
  name: 'content',
  description: 'Content objects with stable ids; every name an object was known under is in content_names.',
  key: ['object_id'],
  columns: [
    c('object_id', 'varchar', false, 'public', 'Stable content id: derived from the source id (or the canonical name) and never changed by a rename.'),
    c('title', 'varchar', true, 'public', 'The most recent name.'),
    c('type', 'varchar', true, 'public', 'Content type, when known (course, quiz, resource, …).'),
    c('course_id', 'varchar', true, 'public', 'Stable id of the course it belongs to, when known.'),
    c('first_seen_utc', 'timestamp', true, 'internal', 'First event that referenced it.'),
    c('last_seen_utc', 'timestamp', true, 'internal', 'Last event that referenced it.'),
  ],
};

export const contentNames: TableDef = {
  name: 'content_names',
  description: 'Every name a content object was known under, per source.',
  key: ['object_id', 'source', 'name'],
  columns: [
    c('object_id', 'varchar', false, 'public', 'Stable content id.'),
    source,
    c('name', 'varchar', false, 'public', 'A name the source used.'),
    c('first_seen_utc', 'timestamp', true, 'internal', 'First event that used this name.'),
    c('last_seen_utc', 'timestamp', true, 'internal', 'Last event that used this name.'),
  ],
};

export const hrRecords: TableDef = {
  name: 'hr_records',
  description: 'Effective-dated HR history, so joins can be made as of any date.',
  key: ['user_id', 'effective_from'],
  columns: [
    c('user_id', 'varchar', false, 'pseudonym', 'Employee pseudonym.'),
    c('effective_from', 'date', false, 'internal', 'First day this record applies.'),
    c('effective_to', 'date', true, 'internal', 'Day the next record starts (exclusive); NULL for the current record.'),
    c('employment_status', 'varchar', true, 'internal', 'active, leave, terminated, … (lower case).'),
    c('role_level', 'varchar', true, 'internal', 'Role or grade level.'),
    c('manager_id', 'varchar', true, 'pseudonym', 'Manager (a user_id).'),
    c('department', 'varchar', true, 'internal', 'Department.'),
    c('hire_date', 'date', true, 'internal', 'Hire date.'),
    c('performance_rating', 'varchar', true, 'sensitive', 'Performance rating; excluded from outputs unless allowed by name.'),
    c('salary_band', 'varchar', true, 'sensitive', 'Salary band; excluded from outputs unless allowed by name.'),
    source,
    loadId,
  ],
};

export const identityMap: TableDef = {
  name: 'identity_map',
  description: 'Every pseudonymised source key and the person it resolved to, with the rule that matched.',
  key: ['key_kind', 'key_pseudonym'],
  columns: [
    c('key_kind', 'varchar', false, 'internal', 'Kind of key: employee_id, email, or a source namespace such as moodle_id.'),
    c('key_pseudonym', 'varchar', false, 'pseudonym', 'HMAC pseudonym of the normalised key.'),
    c('user_id', 'varchar', false, 'pseudonym', 'The resolved person.'),
    c('rule', 'varchar', false, 'internal', 'The identity rule that matched: employee_id, email, mbox_sha1sum, account, or unmatched.'),
    c('sources', 'varchar[]', false, 'internal', 'Sources that presented this key.'),
  ],
};

export const identityLinks: TableDef = {
  name: 'identity_links',
  description: 'Identity records as sources presented them: a key and the employee id / email it carried (all pseudonymised).',
  key: ['source', 'key_kind', 'key_pseudonym'],
  columns: [
    source,
    c('key_kind', 'varchar', false, 'internal', 'Kind of the record\'s own key.'),
    c('key_pseudonym', 'varchar', false, 'pseudonym', 'Pseudonym of the record\'s own key.'),
    c('employee_id_pseudonym', 'varchar', true, 'pseudonym', 'Pseudonym of the employee id the record carried.'),
    c('email_pseudonym', 'varchar', true, 'pseudonym', 'Pseudonym of the normalised email the record carried.'),
  ],
};

export const rejects: TableDef = {
  name: 'rejects',
  description: 'Rows that could not be normalised, with where they came from and why. Nothing is dropped silently.',
  key: ['load_id', 'location', 'reason'],
  columns: [
    source,
    loadId,
    c('location', 'varchar', false, 'internal', 'file:line, LSN or statement id.'),
    c('reason', 'varchar', false, 'internal', 'Machine-readable reason (bad_timestamp, missing_user, unknown_event_type, …).'),
    c('field', 'varchar', true, 'internal', 'The field at fault, when one is.'),
    c('detail', 'varchar', true, 'internal', 'Human-readable explanation.'),
    c('raw', 'varchar', true, 'raw', 'The raw row as read (pseudonymised user keys are NOT applied to this text; never published).'),
  ],
};

export const loads: TableDef = {
  name: 'loads',
  description: 'One row per load of one input, with its reconciliation: read = accepted + duplicates + rejected.',
  key: ['load_id'],
  columns: [
    loadId,
    source,
    c('input', 'varchar', false, 'internal', 'File path (relative to the config) or source description.'),
    c('sha256', 'varchar', true, 'internal', 'SHA-256 of the input file.'),
    c('as_of', 'varchar', true, 'internal', 'The run\'s --as-of date.'),
    c('rows_read', 'bigint', false, 'internal', 'Rows (lines) read.'),
    c('accepted', 'bigint', false, 'internal', 'Rows written to canonical tables.'),
    c('duplicates', 'bigint', false, 'internal', 'Exact duplicates of rows already accepted.'),
    c('conflicts', 'bigint', false, 'internal', 'Same key, different content (also counted in rejected).'),
    c('rejected', 'bigint', false, 'internal', 'Rows written to rejects (conflicts included).'),
    c('dst_gap', 'bigint', false, 'internal', 'Local times in a DST gap, shifted forward.'),
    c('dst_overlap', 'bigint', false, 'internal', 'Local times in a DST overlap, resolved to the earlier instant.'),
    c('late', 'bigint', false, 'internal', 'Rows older than the watermark but within the lookback, admitted.'),
    c('watermark_before', 'timestamp', true, 'internal', 'Source event-time watermark before the load.'),
    c('watermark_after', 'timestamp', true, 'internal', 'Source event-time watermark after the load.'),
    c('target', 'varchar', false, 'internal', 'Canonical table loaded.'),
  ],
};

export const loadedFiles: TableDef = {
  name: 'loaded_files',
  description: 'Files already loaded, by content hash: a file loaded once is skipped afterwards.',
  key: ['source', 'sha256'],
  columns: [source, c('path', 'varchar', false, 'internal', 'Path as configured.'), c('sha256', 'varchar', false, 'internal', 'Content hash.'), loadId],
};

export const watermarks: TableDef = {
  name: 'watermarks',
  description: 'Per-source event-time watermark (the newest event time loaded).',
  key: ['source'],
  columns: [source, c('watermark_utc', 'timestamp', true, 'internal', 'Newest accepted event time.'), loadId],
};

export const sourcePositions: TableDef = {
  name: 'source_positions',
  description: 'Where a non-file source resumes: an LRS\'s last `stored` time, a Postgres key or time column, a replication LSN. Advanced in the same transaction as the rows it covers.',
  key: ['source'],
  columns: [
    source,
    c('position', 'varchar', false, 'internal', 'The resume position as text (an ISO time, a key value, an LSN such as 0/16B3748).'),
    c('position_kind', 'varchar', false, 'internal', 'What the position is: stored, key, time, lsn.'),
    loadId,
  ],
};

export const meta: TableDef = {
  name: 'learnpipe_meta',
  description: 'Warehouse metadata: schema version.',
  key: ['key'],
  columns: [c('key', 'varchar', false, 'internal', 'Setting name.'), c('value', 'varchar', false, 'internal', 'Setting value.')],
};

// ---- Derived tables: feature tiles, spine, features, labels, training (rebuilt or updated per run) ----

// Tiles are keyed by a learner's integer key (learner_keys.uid), not the 32-character pseudonym: on
// sparse activity they hold nearly as many rows as the events, and writing, sorting and matching a
// pseudonym on every row was the largest part of a rebuild.
const learnerPseudonym = c('user_id', 'varchar', false, 'pseudonym', 'Learner pseudonym.');
const tileLearner = c('uid', 'integer', false, 'internal', 'Learner key (see learner_keys).');
// Per-type counts are kept only for the types some configured feature reads (see TileOptions.eventTypes):
// on sparse activity each counted type is a column on millions of day tiles.
const typeCounts = EVENT_TYPES.map((t) => c(`n_${t}`, 'bigint', true, 'internal', `Events of type ${t} that day (NULL when no configured feature counts this type).`));

export const learnerKeys: TableDef = {
  name: 'learner_keys',
  description: 'Integer keys of learners in the feature tiles. A key, once given, stays (a full rebuild of the tiles keeps it).',
  key: ['user_id'],
  columns: [
    learnerPseudonym,
    c('uid', 'integer', false, 'internal', 'Learner key used by user_day, sessions and quiz_first_starts.'),
  ],
};

export const userDay: TableDef = {
  name: 'user_day',
  description: 'Feature tile: one row per learner and UTC day with activity, kept up to date incrementally; window features are assembled from it.',
  key: ['uid', 'day'],
  columns: [
    tileLearner,
    c('day', 'date', false, 'internal', 'UTC day.'),
    c('events', 'bigint', false, 'internal', 'Events that day.'),
    c('duration_seconds', 'double', false, 'internal', 'Sum of event durations that day.'),
    c('first_ts', 'timestamp', false, 'internal', 'First event time that day.'),
    c('last_ts', 'timestamp', false, 'internal', 'Last event time that day.'),
    c('sessions_started', 'bigint', false, 'internal', 'Sessions that began that day (a session ends after the configured inactivity gap).'),
    c('session_seconds', 'double', false, 'internal', 'Time between consecutive events of the same session, attributed to the day of the later event.'),
    c('new_quiz_objects', 'bigint', false, 'internal', 'Quizzes first started that day.'),
    ...typeCounts,
  ],
};

export const userDayAssessments: TableDef = {
  name: 'user_day_assessments',
  description: 'Feature tile: one row per learner and UTC day with assessment results.',
  key: ['user_id', 'day'],
  columns: [
    // (Keyed by pseudonym: built straight from assessments, and small.)
    learnerPseudonym,
    c('day', 'date', false, 'internal', 'UTC day of submission.'),
    c('attempts', 'bigint', false, 'internal', 'Attempts submitted that day.'),
    c('passed', 'bigint', false, 'internal', 'Attempts passed.'),
    c('graded', 'bigint', false, 'internal', 'Attempts with a pass/fail verdict.'),
    c('score_ratio_sum', 'double', false, 'internal', 'Sum of score / max_score over scored attempts.'),
    c('scored', 'bigint', false, 'internal', 'Attempts with a score and a positive max_score.'),
  ],
};

export const sessions: TableDef = {
  name: 'sessions',
  description: 'Learning sessions of more than one event: runs of events of one learner with no gap longer than the inactivity gap. (An event with no other within the gap is a session of its own; those are not stored, user_day counts them.)',
  key: ['uid', 'session_start'],
  columns: [
    tileLearner,
    c('session_start', 'timestamp', false, 'internal', 'First event of the session.'),
    c('session_end', 'timestamp', false, 'internal', 'Last event of the session.'),
    c('events', 'bigint', false, 'internal', 'Events in the session.'),
  ],
};

export const quizFirstAttempts: TableDef = {
  name: 'quiz_first_starts',
  description: 'When each learner first started each quiz (for attempts per quiz).',
  key: ['uid', 'object_id'],
  columns: [tileLearner, c('object_id', 'varchar', false, 'public', 'Quiz content id.'), c('first_ts', 'timestamp', false, 'internal', 'First quiz_start.')],
};

export const tileState: TableDef = {
  name: 'tile_state',
  description: 'How far the feature tiles are up to date: the last load folded in, and the settings they were built with.',
  key: ['tile'],
  columns: [
    c('tile', 'varchar', false, 'internal', 'Tile name.'),
    c('last_load_id', 'bigint', false, 'internal', 'Loads up to this id are folded in.'),
    c('settings', 'varchar', false, 'internal', 'Settings the tile depends on (e.g. the session gap); a change forces a full rebuild.'),
  ],
};

export const spine: TableDef = {
  name: 'spine',
  description: 'When predictions are made: one row per learner (and course) and cutoff. Features and labels share it.',
  key: ['user_id', 'course_id', 'cutoff'],
  columns: [
    learnerPseudonym,
    c('course_id', 'varchar', true, 'public', 'Course, for enrollment-relative spines; NULL otherwise.'),
    c('cutoff', 'timestamp', false, 'internal', 'Prediction time (a UTC midnight): features read only data before it, labels only after it.'),
  ],
};

export const labels: TableDef = {
  name: 'labels',
  description: 'Labels, computed by their own pipeline. Rows are kept for every definition hash, so a changed definition adds rows and keeps the old ones for audit.',
  key: ['label_id', 'computation_date'],
  columns: [
    c('label_id', 'varchar', false, 'internal', 'Deterministic id: hash of the definition hash, user, course and window.'),
    c('label_name', 'varchar', false, 'internal', 'Name of the label definition.'),
    c('definition_hash', 'varchar', false, 'internal', 'SHA-256 (first 16 hex) of the canonical definition.'),
    learnerPseudonym,
    c('course_id', 'varchar', true, 'public', 'Course, for enrollment-relative spines.'),
    c('label_value', 'integer', true, 'internal', '1 or 0; NULL when censored (window not fully observed by the computation date).'),
    c('censored', 'boolean', false, 'internal', 'The window ends after the computation date, so no value is given.'),
    c('label_window_start', 'timestamp', false, 'internal', 'Window start (the cutoff, exclusive).'),
    c('label_window_end', 'timestamp', false, 'internal', 'Window end (inclusive).'),
    c('computation_date', 'varchar', false, 'internal', 'The --as-of of the run that computed it.'),
  ],
};

export const runs: TableDef = {
  name: 'runs',
  description: 'Run history: one row per `learnpipe run`, with its manifest.',
  key: ['run_id'],
  columns: [
    c('run_id', 'varchar', false, 'internal', 'Run id (as-of and config hash).'),
    c('as_of', 'varchar', false, 'internal', 'The --as-of date.'),
    c('status', 'varchar', false, 'internal', 'published, blocked or failed.'),
    c('config_hash', 'varchar', false, 'internal', 'SHA-256 of the config (secrets excluded).'),
    c('manifest', 'json', true, 'internal', 'The run manifest.'),
  ],
};

export const qaResults: TableDef = {
  name: 'qa_results',
  description: 'QA gate results per run.',
  key: ['run_id', 'check_name', 'subject'],
  columns: [
    c('run_id', 'varchar', false, 'internal', 'Run id.'),
    c('check_name', 'varchar', false, 'internal', 'Check.'),
    c('subject', 'varchar', false, 'internal', 'Table, column, source or feature checked.'),
    c('severity', 'varchar', false, 'internal', 'error (blocks publishing) or warn.'),
    c('status', 'varchar', false, 'internal', 'pass or fail.'),
    c('value', 'double', true, 'internal', 'Measured value.'),
    c('threshold', 'varchar', true, 'internal', 'Threshold the value was compared with.'),
    c('detail', 'varchar', true, 'internal', 'Explanation.'),
  ],
};

export const privacyLedger: TableDef = {
  name: 'privacy_ledger',
  description: 'Differential-privacy budget spent per dataset: one row per noisy release.',
  key: ['dataset', 'release_id'],
  columns: [
    c('dataset', 'varchar', false, 'internal', 'Dataset the budget belongs to.'),
    c('release_id', 'varchar', false, 'internal', 'Release id.'),
    c('epsilon', 'double', false, 'internal', 'Epsilon spent.'),
    c('delta', 'double', false, 'internal', 'Delta spent (0 for pure DP).'),
    c('mechanism', 'varchar', false, 'internal', 'laplace or gaussian.'),
    c('description', 'varchar', true, 'internal', 'What was released.'),
    c('released_at', 'varchar', false, 'internal', 'The --as-of of the release.'),
  ],
};

/** Canonical tables (the data model). */
export const CANONICAL_TABLES: TableDef[] = [users, enrollments, events, assessments, content, contentNames, hrRecords];
/** Bookkeeping tables (loads, identity, rejects, metadata). */
export const BOOKKEEPING_TABLES: TableDef[] = [identityMap, identityLinks, rejects, loads, loadedFiles, watermarks, sourcePositions, meta];
/** Derived tables (tiles, spine, labels) and run history. */
export const DERIVED_TABLES: TableDef[] = [learnerKeys, userDay, userDayAssessments, sessions, quizFirstAttempts, tileState, spine, labels, runs, qaResults, privacyLedger];
export const ALL_TABLES: TableDef[] = [...CANONICAL_TABLES, ...BOOKKEEPING_TABLES, ...DERIVED_TABLES];

export function tableDef(name: string): TableDef {
  const t = ALL_TABLES.find((x) => x.name === name);
  if (!t) throw new Error(`unknown canonical table ${JSON.stringify(name)}`);
  return t;
}

/** Tables a file source may load into, and the fields a mapping may fill. */
export const LOADABLE_TABLES = ['events', 'users', 'enrollments', 'assessments', 'hr_records'] as const;
export type LoadableTable = (typeof LOADABLE_TABLES)[number];
