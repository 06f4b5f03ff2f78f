// A small Moodle-like LMS database (the tables learnpipe reads, with Moodle's column names and types)
// filled with deterministic rows, and the pipeline.yaml sources that read it.
import type { TestPostgres } from './pg.js';

export const MOODLE_SCHEMA = `
CREATE TABLE mdl_user (id BIGSERIAL PRIMARY KEY, username VARCHAR(100) NOT NULL, email VARCHAR(100), idnumber VARCHAR(255), firstname VARCHAR(100), lastname VARCHAR(100), timecreated BIGINT NOT NULL, timemodified BIGINT NOT NULL);
CREATE TABLE mdl_course (id BIGSERIAL PRIMARY KEY, fullname VARCHAR(254), shortname VARCHAR(255));
CREATE TABLE mdl_enrol (id BIGSERIAL PRIMARY KEY, enrol VARCHAR(20) NOT NULL, courseid BIGINT NOT NULL, status BIGINT NOT NULL DEFAULT 0);
CREATE TABLE mdl_user_enrolments (id BIGSERIAL PRIMARY KEY, status BIGINT NOT NULL DEFAULT 0, enrolid BIGINT NOT NULL, userid BIGINT NOT NULL, timestart BIGINT NOT NULL DEFAULT 0, timeend BIGINT NOT NULL DEFAULT 0, timecreated BIGINT NOT NULL, timemodified BIGINT NOT NULL, UNIQUE (enrolid, userid));
CREATE TABLE mdl_grade_items (id BIGSERIAL PRIMARY KEY, courseid BIGINT, itemname VARCHAR(255), itemmodule VARCHAR(30), grademax NUMERIC(10,5) NOT NULL DEFAULT 100);
CREATE TABLE mdl_grade_grades (id BIGSERIAL PRIMARY KEY, itemid BIGINT NOT NULL, userid BIGINT NOT NULL, rawgrade NUMERIC(10,5), rawgrademax NUMERIC(10,5) NOT NULL DEFAULT 100, finalgrade NUMERIC(10,5), timecreated BIGINT, timemodified BIGINT, UNIQUE (userid, itemid));
CREATE TABLE mdl_logstore_standard_log (id BIGSERIAL PRIMARY KEY, eventname VARCHAR(255) NOT NULL, component VARCHAR(100) NOT NULL, action VARCHAR(100) NOT NULL, target VARCHAR(100) NOT NULL, objecttable VARCHAR(50), objectid BIGINT, crud VARCHAR(1) NOT NULL, edulevel SMALLINT NOT NULL, contextid BIGINT NOT NULL, contextlevel BIGINT NOT NULL, contextinstanceid BIGINT NOT NULL, userid BIGINT NOT NULL, courseid BIGINT, relateduserid BIGINT, anonymous SMALLINT NOT NULL DEFAULT 0, other TEXT, timecreated BIGINT NOT NULL, origin VARCHAR(10), ip VARCHAR(45), realuserid BIGINT);
CREATE INDEX mdl_logsstanlog_tim_ix ON mdl_logstore_standard_log (timecreated);
`;

/** Moodle event names → canonical event types (the value map in the events source). */
export const EVENT_MAP: Record<string, string> = {
  '\\core\\event\\user_loggedin': 'login',
  '\\core\\event\\course_viewed': 'view',
  '\\mod_page\\event\\course_module_viewed': 'view',
  '\\mod_quiz\\event\\attempt_started': 'quiz_start',
  '\\mod_quiz\\event\\attempt_submitted': 'submit',
  '\\mod_assign\\event\\assessable_submitted': 'submit',
  '\\mod_forum\\event\\post_created': 'forum_post',
  '\\core\\event\\course_completed': 'complete',
};
const EVENTS = Object.keys(EVENT_MAP);
export const T0 = 1_714_521_600; // 2024-05-01T00:00:00Z

/** Users, courses, enrolments and grades; `logRows` log rows from id 1 on (deterministic). */
export async function createMoodle(db: TestPostgres, opts: { users?: number; courses?: number; logRows?: number } = {}): Promise<void> {
  const users = opts.users ?? 20;
  const courses = opts.courses ?? 3;
  await db.sql(MOODLE_SCHEMA);
  await db.sql(`INSERT INTO mdl_user (username, email, idnumber, firstname, lastname, timecreated, timemodified)
    SELECT 'user' || i, 'user' || i || '@example.org', CASE WHEN i % 5 <> 0 THEN 'E' || lpad(i::text, 5, '0') END, 'First' || i, 'Last' || i, ${T0}, ${T0} FROM generate_series(1, ${users}) i`);
  await db.sql(`INSERT INTO mdl_course (fullname, shortname) SELECT 'Course ' || i, 'C' || i FROM generate_series(1, ${courses}) i`);
  await db.sql(`INSERT INTO mdl_enrol (enrol, courseid) SELECT 'manual', i FROM generate_series(1, ${courses}) i`);
  await db.sql(`INSERT INTO mdl_user_enrolments (status, enrolid, userid, timestart, timecreated, timemodified)
    SELECT 0, c, u, ${T0} + u * 60, ${T0} + u * 60, ${T0} + u * 60 FROM generate_series(1, ${users}) u, generate_series(1, ${courses}) c WHERE (u + c) % 2 = 0`);
  await db.sql(`INSERT INTO mdl_grade_items (courseid, itemname, itemmodule, grademax) SELECT i, 'Quiz ' || i, 'quiz', 10 FROM generate_series(1, ${courses}) i`);
  await db.sql(`INSERT INTO mdl_grade_grades (itemid, userid, rawgrade, rawgrademax, finalgrade, timecreated, timemodified)
    SELECT c, u, (u * 7 + c) % 11, 10, (u * 7 + c) % 11, ${T0} + 86400 + u, ${T0} + 86400 + u FROM generate_series(1, ${users}) u, generate_series(1, ${courses}) c WHERE (u + c) % 2 = 0`);
  if (opts.logRows) await addLogRows(db, opts.logRows, { users, courses });
}

/** Appends `n` log rows after the current last id (times increase with ids, like a real log). */
export async function addLogRows(db: TestPostgres, n: number, opts: { users?: number; courses?: number } = {}): Promise<void> {
  const users = opts.users ?? 20;
  const courses = opts.courses ?? 3;
  const names = `ARRAY[${EVENTS.map((e) => `'${e.replaceAll("'", "''")}'`).join(', ')}]`;
  await db.sql(`INSERT INTO mdl_logstore_standard_log (eventname, component, action, target, objecttable, objectid, crud, edulevel, contextid, contextlevel, contextinstanceid, userid, courseid, timecreated, origin, ip)
    SELECT (${names})[1 + (s.i * 7) % ${EVENTS.length}], 'core', 'viewed', 'course', NULL, NULL, 'r', 2, 100 + s.i % 17, 70, 500 + s.i % 17, 1 + (s.i * 13) % ${users}, 1 + s.i % ${courses}, ${T0} + 2 * 86400 + s.i * 37, 'web', '10.0.0.' || (s.i % 250)
    FROM (SELECT (SELECT coalesce(max(id), 0) FROM mdl_logstore_standard_log) + g AS i FROM generate_series(1, ${n}) g) s ORDER BY s.i`);
}

function yamlMap(m: Record<string, string>): string {
  return `{ ${Object.entries(m).map(([k, v]) => `'${k}': ${v}`).join(', ')} }`;
}

/** The sources that read the Moodle database (connection URL from MOODLE_DB_URL). */
export function moodleSources(opts: { logBatch?: number; extra?: string } = {}): string {
  return `
sources:
  - name: moodle_users
    kind: postgres
    connection: { url_env: MOODLE_DB_URL }
    table: public.mdl_user
    incremental: { column: id }
    target: users
    fields:
      user: { column: id, kind: moodle_id }
      email: email
      employee_id: idnumber
  - name: moodle_log
    kind: postgres
    connection: { url_env: MOODLE_DB_URL }
    table: mdl_logstore_standard_log
    incremental: { column: id, kind: key }
    batch_rows: ${opts.logBatch ?? 1000}
    target: events
    fields:
      event_id: id
      user: { column: userid, kind: moodle_id }
      event_type: { column: eventname, map: ${yamlMap(EVENT_MAP)} }
      object: { id_column: contextinstanceid, namespace: moodle_cm }
      course: { id_column: courseid, namespace: moodle_course }
      timestamp: { column: timecreated, format: epoch_s }
  - name: moodle_grades
    kind: postgres
    connection: { url_env: MOODLE_DB_URL }
    table: mdl_grade_grades
    incremental: { column: timemodified, kind: time }
    row_key: id
    target: assessments
    fields:
      assessment_id: id
      user: { column: userid, kind: moodle_id }
      object: { id_column: itemid, namespace: moodle_grade_item }
      score: finalgrade
      max_score: rawgrademax
      submitted_at: { column: timemodified, format: epoch_s }
  - name: moodle_enrolments
    kind: postgres
    connection: { url_env: MOODLE_DB_URL }
    query: >-
      SELECT ue.id, ue.userid, e.courseid, ue.timestart, ue.timemodified,
             CASE ue.status WHEN 0 THEN 'active' ELSE 'suspended' END AS status
      FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid
    incremental: { column: timemodified, kind: time }
    row_key: id
    cdc_table: mdl_user_enrolments
    target: enrollments
    fields:
      user: { column: userid, kind: moodle_id }
      course: { id_column: courseid, namespace: moodle_course }
      enrolled_at: { column: timestart, format: epoch_s }
      status: status
${opts.extra ?? ''}`;
}

import type { Engine } from '../../src/engine/engine.js';

/** The canonical tables' content (without load ids, which depend on how rows arrived), sorted. */
export async function canonicalSnapshot(engine: Engine, tables = ['events', 'assessments', 'enrollments', 'identity_links', 'users']): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of tables) {
    const cols = (await engine.all<{ c: string }>(`SELECT column_name AS c FROM information_schema.columns WHERE table_name = $1 AND column_name <> 'load_id' ORDER BY ordinal_position`, [t])).map((r) => r.c);
    const rows = await engine.all<{ r: string }>(`SELECT CAST(row(${cols.join(', ')}) AS VARCHAR) AS r FROM ${t} ORDER BY ALL`);
    out[t] = rows.map((r) => r.r).sort();
  }
  return out;
}
