import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openProject, testPseudonymizer, writeProject } from './helpers/ingest-fixture.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';

const CONFIG = `warehouse: wh.duckdb
content:
  aliases: { "Data Protection Essentials": "Data Privacy 101" }
sources:
  - name: hris
    format: csv
    path: raw/hr.csv
    target: hr_records
    fields:
      user: { column: employee_id, kind: employee_id }
      email: email
      department: department
      role_level: role_level
      manager: { column: manager_id, kind: employee_id }
      employment_status: employment_status
      effective_from: effective_from
      effective_to: effective_to
      hire_date: hire_date
  - name: lms_users
    format: csv
    path: raw/users.csv
    target: users
    fields:
      user: { column: id, kind: moodle_id }
      email: email
      employee_id: idnumber
  - name: moodle
    format: csv
    path: raw/log/*.csv
    target: events
    lookback_days: 2
    fields:
      event_id: id
      user: { column: userid, kind: moodle_id }
      event_type:
        column: eventname
        map: { '\\core\\event\\course_viewed': view, '\\mod_quiz\\event\\attempt_started': quiz_start }
      object: { id_column: cmid, name_column: object_name, namespace: moodle_cm }
      course: { id_column: courseid, namespace: moodle_course }
      timestamp: { column: timecreated, format: epoch_s }
      duration_seconds: duration
  - name: ilt
    format: csv
    path: raw/ilt.csv
    target: events
    fields:
      event_id: record_id
      user: { column: employee_email, kind: email }
      event_type: { const: attend }
      object: { name_column: session_title }
      timestamp: { column: start_local, format: local, timezone_column: timezone }
      duration_seconds: { column: duration_minutes, scale: 60 }
  - name: mobile
    format: jsonl
    path: raw/mobile.jsonl
    target: events
    fields:
      event_id: event_uuid
      user: { column: user.lms_id, kind: moodle_id }
      event_type: type
      object: { name_column: content_title }
      timestamp: ts
      duration_seconds: { column: duration_ms, scale: 0.001 }
  - name: quiz
    format: csv
    path: raw/quiz.csv
    target: assessments
    fields:
      assessment_id: attempt_id
      user: { column: userid, kind: moodle_id }
      object: { id_column: quiz_id, namespace: moodle_quiz }
      attempt: attempt
      score: sumgrades
      max_score: maxgrade
      passed: passed
      submitted_at: { column: timefinish_ms, format: epoch_ms }
  - name: enrol
    format: csv
    path: raw/enrol.csv
    target: enrollments
    fields:
      user: { column: userid, kind: moodle_id }
      course: { id_column: courseid, namespace: moodle_course }
      enrolled_at: timeenrolled
      completed_at: timecompleted
      status: status
`;

// 2024-03-09 16:00:00 UTC = 1710000000
const LOG_1 = `id,eventname,userid,courseid,cmid,object_name,timecreated,duration
1,\\core\\event\\course_viewed,101,3,55,Data Privacy 101,1710000000,30
2,\\mod_quiz\\event\\attempt_started,102,3,56,Quiz 1,1710000100,
2,\\mod_quiz\\event\\attempt_started,102,3,56,Quiz 1,1710000100,
3,\\mod_quiz\\event\\attempt_started,102,3,56,Quiz 1,1710000200,5
3,\\mod_quiz\\event\\attempt_started,102,3,56,Quiz 1,1710000200,7
4,\\core\\event\\mystery,101,3,55,X,1710000300,1
5,\\core\\event\\course_viewed,,3,55,X,1710000300,1
6,\\core\\event\\course_viewed,101,3,55,"bad,"quote,1710000300,1
7,\\core\\event\\course_viewed,101,3,55,Data Protection Essentials,not-a-time,1
8,\\core\\event\\course_viewed,101,3,55,Data Protection Essentials,1710000400,-5
9,\\core\\event\\course_viewed,103,3,55,Data Protection Essentials,1710864000,2
`;
// A later file: a repeat of event 1 (duplicate), a conflicting event 9, a late event within the
// 2-day lookback (2024-03-18) and one beyond it (2024-03-10).
const LOG_2 = `id,eventname,userid,courseid,cmid,object_name,timecreated,duration
1,\\core\\event\\course_viewed,101,3,55,Data Privacy 101,1710000000,30
9,\\core\\event\\course_viewed,103,3,55,Data Protection Essentials,1710864000,99
10,\\core\\event\\course_viewed,101,3,55,Data Protection Essentials,1710777600,1
11,\\core\\event\\course_viewed,101,3,55,Data Protection Essentials,1710086400,1
`;

const FILES = {
  'pipeline.yaml': CONFIG,
  'raw/log/2024-03a.csv': LOG_1,
  'raw/users.csv': 'id,email,idnumber,firstname\n101, Anna@Example.com ,E1,Anna\n102,bob@example.com,,Bob\n103,carl@example.com,,Carl\n',
  'raw/hr.csv':
    'employee_id,email,department,role_level,manager_id,employment_status,effective_from,effective_to,hire_date\n' +
    'E1,anna@example.com,Sales,L2,E2,Active,2023-01-01,,2020-05-01\nE2,bob@example.com,Sales,L4,,active,2023-01-01,2024-02-01,2019-01-01\nE2,bob@example.com,Sales,L4,,terminated,2024-02-01,,2019-01-01\n',
  'raw/ilt.csv':
    'record_id,employee_email,session_title,start_local,timezone,duration_minutes\n' +
    'ILT-1,anna@example.com,Fire drill,2024-03-10 02:30:00,America/New_York,60\n' + // DST gap
    'ILT-2,BOB@example.com,Fire drill,2024-11-03 01:30:00,America/New_York,60\n' + // DST overlap
    'ILT-3,bob@example.com,Fire drill,2024-06-03 09:30:00,Mars/Olympus_Mons,60\n' + // unknown zone
    'ILT-4,carl@example.com,Fire drill,2024-04-07 02:30:00,Australia/Sydney,60\n' + // southern overlap
    'ILT-5,carl@example.com,Fire drill,2024-06-03 09:30:00,Asia/Kolkata,45\n', // +05:30, no DST
  'raw/mobile.jsonl': [
    '{"event_uuid":"a1","user":{"lms_id":101},"type":"view","content_title":"Data Protection Essentials","ts":"2024-03-10T09:15:00+05:30","duration_ms":12000}',
    '{"event_uuid":"a2","user":{"lms_id":102},"type":"video_play","content_title":"Data Privacy 101","ts":"2024-03-10T09:15:00-04:00","duration_ms":null}',
    '{"event_uuid":"a3","user":{"lms_id":',
    '{"event_uuid":"a4","user":{"lms_id":103},"type":"view","content_title":"Other","ts":"2024-03-10 09:15:00","duration_ms":5}',
    '{"event_uuid":"a5","user":{"lms_id":103},"type":"view","content_title":"Other","ts":"2024-03-10T09:15:00Z","duration_ms":5}',
  ].join('\n') + '\n',
  'raw/quiz.csv': 'attempt_id,userid,quiz_id,attempt,sumgrades,maxgrade,passed,timefinish_ms\nq1,101,7,1,8,10,1,1710000000123\nq2,102,7,1,11,10,0,1710000000123\nq3,102,7,2,4,10,maybe,1710000000123\n',
  'raw/enrol.csv': 'userid,courseid,timeenrolled,timecompleted,status\n101,3,2024-01-03T09:00:00Z,,Active\n101,3,2024-01-03T09:00:00Z,2024-03-01T10:00:00Z,completed\n102,3,2024-01-03T09:00:00+01:00,,active\n',
};

test('file ingestion: reconciliation, rejects with file:line and reason, dedupe, DST, identities, content', async () => {
  const dir = writeProject(FILES);
  const { engine, run } = await openProject(dir);
  try {
    const s = await run('2024-04-01');
    const by = Object.fromEntries(s.sources.map((x) => [x.source, x]));
    for (const x of s.sources) assert.equal(x.rows_read, x.accepted + x.duplicates + x.rejected, `${x.source} reconciles`);
    assert.deepEqual(
      { read: by.moodle.rows_read, accepted: by.moodle.accepted, dup: by.moodle.duplicates, conflicts: by.moodle.conflicts, rejected: by.moodle.rejected },
      { read: 11, accepted: 4, dup: 1, conflicts: 1, rejected: 6 },
    );
    assert.deepEqual(by.moodle.rejects_by_reason, { bad_timestamp: 1, conflicting_duplicate: 1, malformed_line: 1, missing_user: 1, negative_duration: 1, unknown_event_type: 1 });

    const rejects = await engine.all<{ location: string; reason: string; field: string | null; raw: string }>(`SELECT location, reason, field, raw FROM rejects WHERE source = 'moodle' ORDER BY location`);
    assert.deepEqual(
      rejects.map((r) => [r.location, r.reason, r.field]),
      [
        ['raw/log/2024-03a.csv:10', 'bad_timestamp', 'timestamp'],
        ['raw/log/2024-03a.csv:11', 'negative_duration', 'duration_seconds'],
        ['raw/log/2024-03a.csv:6', 'conflicting_duplicate', 'event_id'],
        ['raw/log/2024-03a.csv:7', 'unknown_event_type', 'event_type'],
        ['raw/log/2024-03a.csv:8', 'missing_user', 'user'],
        ['raw/log/2024-03a.csv:9', 'malformed_line', null],
      ],
    );
    assert.equal(rejects.find((r) => r.reason === 'malformed_line')!.raw, LOG_1.split('\n')[8]);
    assert.equal(rejects.find((r) => r.reason === 'bad_timestamp')!.raw, LOG_1.split('\n')[9]);

    // Time: epoch, ISO with offset, local with DST gap / overlap (earlier instant), no-DST zone.
    const t = Object.fromEntries(
      (await engine.all<{ event_id: string; ts: string; off: number | null }>(`SELECT event_id, strftime(timestamp_utc, '%Y-%m-%d %H:%M:%S') AS ts, tz_offset_minutes AS off FROM events`)).map((r) => [r.event_id, [r.ts, r.off]]),
    );
    assert.deepEqual(t['moodle:1'], ['2024-03-09 16:00:00', null]);
    assert.deepEqual(t['ilt:ILT-1'], ['2024-03-10 07:30:00', -240]); // 02:30 does not exist: read as EST, = 03:30 EDT
    assert.deepEqual(t['ilt:ILT-2'], ['2024-11-03 05:30:00', -240]); // 01:30 happens twice: the earlier (EDT)
    assert.deepEqual(t['ilt:ILT-4'], ['2024-04-06 15:30:00', 660]); // Sydney 02:30 twice: the earlier (AEDT)
    assert.deepEqual(t['ilt:ILT-5'], ['2024-06-03 04:00:00', 330]);
    assert.deepEqual(t['mobile:a1'], ['2024-03-10 03:45:00', 330]);
    assert.deepEqual(t['mobile:a2'], ['2024-03-10 13:15:00', -240]);
    assert.deepEqual(t['mobile:a5'], ['2024-03-10 09:15:00', 0]);
    assert.equal(by.ilt.dst_gap, 1);
    assert.equal(by.ilt.dst_overlap, 2);
    assert.deepEqual(by.ilt.rejects_by_reason, { unknown_time_zone: 1 });
    assert.deepEqual(by.mobile.rejects_by_reason, { bad_timestamp: 1, malformed_json: 1 });
    const jsonReject = await engine.one<{ location: string; raw: string }>(`SELECT location, raw FROM rejects WHERE reason = 'malformed_json'`);
    assert.deepEqual(jsonReject, { location: 'raw/mobile.jsonl:3', raw: '{"event_uuid":"a3","user":{"lms_id":' });

    // Durations are scaled; the alias gives a renamed course one stable id.
    const dur = await engine.one<{ d: number }>(`SELECT duration_seconds AS d FROM events WHERE event_id = 'ilt:ILT-5'`);
    assert.equal(dur!.d, 2700);
    const obj = await engine.all<{ event_id: string; object_id: string }>(`SELECT event_id, object_id FROM events WHERE source = 'mobile' ORDER BY 1`);
    assert.equal(obj[0].object_id, obj[1].object_id, 'renamed course keeps its id');
    const names = await engine.all<{ name: string }>(`SELECT name FROM content_names WHERE object_id = 'moodle_cm:55' ORDER BY name`);
    assert.deepEqual(names.map((n) => n.name), ['Data Privacy 101', 'Data Protection Essentials']);
    const title = await engine.one<{ title: string }>(`SELECT title FROM content WHERE object_id = 'moodle_cm:55'`);
    assert.equal(title!.title, 'Data Protection Essentials', 'the latest name is the title');

    // Identity: Anna by employee id (LMS idnumber) and by email (ILT); Bob by email; Carl unmatched
    // but one person across the LMS, mobile and ILT (email anchor).
    const person = async (ev: string) => (await engine.one<{ u: string }>(`SELECT user_id AS u FROM events WHERE event_id = $1`, [ev]))!.u;
    const pz = testPseudonymizer();
    assert.equal(await person('moodle:1'), pz.of('employee_id', 'E1'));
    assert.equal(await person('ilt:ILT-1'), pz.of('employee_id', 'E1'));
    assert.equal(await person('mobile:a1'), pz.of('employee_id', 'E1'));
    assert.equal(await person('moodle:2'), pz.of('employee_id', 'E2'));
    assert.equal(await person('ilt:ILT-2'), pz.of('employee_id', 'E2'), 'email is normalised (case)');
    assert.equal(await person('moodle:9'), pz.of('email', 'carl@example.com'));
    assert.equal(await person('ilt:ILT-4'), await person('moodle:9'));
    const rules = await engine.all<{ match_rule: string; n: number }>(`SELECT match_rule, count(*) AS n FROM users GROUP BY 1 ORDER BY 1`);
    assert.deepEqual(rules.map((r) => [r.match_rule, Number(r.n)]), [['employee_id', 2], ['unmatched', 1]]);
    const manager = await engine.one<{ m: string; s: string }>(`SELECT manager_id AS m, employment_status AS s FROM users WHERE user_id = $1`, [pz.of('employee_id', 'E1')]);
    assert.deepEqual(manager, { m: pz.of('employee_id', 'E2'), s: 'active' });
    const moodleRate = s.match_rates.find((m) => m.source === 'moodle')!;
    assert.deepEqual([moodleRate.keys, moodleRate.matched], [3, 2]);

    // Nothing raw about people is stored: no email or LMS id in any canonical table.
    for (const table of ['events', 'users', 'identity_map', 'identity_links', 'hr_records', 'content', 'enrollments', 'assessments']) {
      const dump = JSON.stringify(await engine.all(`SELECT * FROM ${table}`));
      assert.ok(!/example\.com|Anna|"E1"/.test(dump), `${table} holds no raw identifiers`);
    }

    // Assessments and enrolments: score above max and a non-boolean are rejected; the enrolment's later row wins.
    assert.deepEqual(by.quiz.rejects_by_reason, { bad_boolean: 1, score_out_of_range: 1 });
    const enr = await engine.all<{ status: string; done: string | null }>(`SELECT status, strftime(completed_at, '%Y-%m-%d') AS done FROM enrollments ORDER BY status`);
    assert.deepEqual(enr, [{ status: 'active', done: null }, { status: 'completed', done: '2024-03-01' }]);

    // Second file: duplicate, conflict (first loaded wins), late within lookback admitted, too late rejected.
    writeFileSync(path.join(dir, 'raw/log/2024-03b.csv'), LOG_2);
    const s2 = await run('2024-04-02');
    const m2 = s2.sources.find((x) => x.source === 'moodle')!;
    assert.equal(m2.files_skipped, 1);
    assert.deepEqual([m2.rows_read, m2.accepted, m2.duplicates, m2.conflicts, m2.late], [4, 1, 1, 1, 1]);
    assert.deepEqual(m2.rejects_by_reason, { conflicting_duplicate: 1, late_beyond_lookback: 1 });
    const kept = await engine.one<{ d: number }>(`SELECT duration_seconds AS d FROM events WHERE event_id = 'moodle:9'`);
    assert.equal(kept!.d, 2, 'first loaded wins');
  } finally {
    await engine.close();
  }
});

test('re-running on the same inputs changes nothing; identities resolve the same whatever the load order', async () => {
  const dir = writeProject(FILES);
  const { engine, run } = await openProject(dir);
  const snapshot = async (e: typeof engine) => {
    const out: Record<string, unknown> = {};
    for (const t of ['events', 'users', 'identity_map', 'hr_records', 'content', 'content_names', 'enrollments', 'assessments']) {
      out[t] = await e.all(`SELECT * EXCLUDE (${t === 'events' || t === 'hr_records' || t === 'enrollments' || t === 'assessments' ? 'load_id' : 'rowid_dummy'}) FROM ${t} ORDER BY ALL`.replace(' EXCLUDE (rowid_dummy)', ''));
    }
    return JSON.stringify(out);
  };
  let first = '';
  try {
    await run();
    first = await snapshot(engine);
    const again = await run();
    assert.equal(again.totals.files_loaded, 0);
    assert.equal(again.totals.files_skipped, 7);
    assert.equal(await snapshot(engine), first);
  } finally {
    await engine.close();
  }
  // Events first, directory and HR later: events are re-keyed to the same people.
  const dir2 = writeProject({ ...FILES, 'pipeline.yaml': CONFIG });
  const { engine: e2, loaded } = await openProject(dir2);
  try {
    const { ingest } = await import('../src/normalize/ingest.js');
    for (const src of ['mobile', 'moodle', 'ilt', 'quiz', 'enrol', 'lms_users', 'hris']) await ingest(e2, loaded, testPseudonymizer(), { sources: [src] });
    const a = JSON.parse(await snapshot(e2));
    const b = JSON.parse(first);
    assert.deepEqual(a.users, b.users);
    assert.deepEqual(
      (a.events as Array<Record<string, unknown>>).map((r) => [r.event_id, r.user_id]).sort(),
      (b.events as Array<Record<string, unknown>>).map((r) => [r.event_id, r.user_id]).sort(),
    );
  } finally {
    await e2.close();
  }
});

test('parquet and TSV sources load like CSV', async () => {
  const dir = writeProject({
    'pipeline.yaml': `warehouse: wh.duckdb
sources:
  - { name: pq, format: parquet, path: raw/ev.parquet, target: events, fields: { event_id: id, user: { column: uid, kind: lms_id }, event_type: t, timestamp: { column: ts, format: iso, timezone: UTC } } }
  - { name: tsv, format: tsv, path: raw/ev.tsv, target: events, fields: { event_id: id, user: { column: uid, kind: lms_id }, event_type: t, timestamp: { column: ts, format: epoch_ms } } }
`,
    'raw/ev.tsv': 'id\tuid\tt\tts\n1\tu1\tview\t1710000000000\n2\tu2\tlogin\t1710000001000\n',
  });
  const e = await DuckDBEngine.open(':memory:');
  await e.run(`COPY (SELECT * FROM (VALUES ('p1', 'u1', 'view', TIMESTAMP '2024-03-01 10:00:00'), ('p2', 'u9', 'submit', TIMESTAMP '2024-03-02 11:00:00')) v(id, uid, t, ts)) TO '${path.join(dir, 'raw/ev.parquet')}' (FORMAT parquet)`);
  await e.close();
  const { engine, run } = await openProject(dir);
  try {
    const s = await run();
    assert.deepEqual(s.sources.map((x) => [x.source, x.accepted, x.rejected]), [['pq', 2, 0], ['tsv', 2, 0]]);
    const rows = await engine.all<{ event_id: string; ts: string }>(`SELECT event_id, strftime(timestamp_utc, '%Y-%m-%d %H:%M:%S') AS ts FROM events ORDER BY 1`);
    assert.deepEqual(rows, [
      { event_id: 'pq:p1', ts: '2024-03-01 10:00:00' },
      { event_id: 'pq:p2', ts: '2024-03-02 11:00:00' },
      { event_id: 'tsv:1', ts: '2024-03-09 16:00:00' },
      { event_id: 'tsv:2', ts: '2024-03-09 16:00:01' },
    ]);
  } finally {
    await engine.close();
  }
});

test('an empty timestamp is a reject with its line, not a failed load', async () => {
  const dir = writeProject({
    'pipeline.yaml': `warehouse: wh.duckdb
sources:
  - { name: lms, format: csv, path: raw/ev.csv, target: events, fields: { event_id: id, user: { column: uid, kind: lms_id }, event_type: t, timestamp: { column: ts, format: iso } } }
`,
    'raw/ev.csv': 'id,uid,t,ts\n1,u1,view,2024-03-01T10:00:00Z\n2,u2,view,\n3,u3,view,2024-03-01T11:00:00+01:00\n',
  });
  const { engine, run } = await openProject(dir);
  try {
    const s = await run();
    assert.deepEqual([s.totals.rows_read, s.totals.accepted, s.totals.rejected], [3, 2, 1]);
    const r = await engine.all<{ location: string; reason: string; field: string }>(`SELECT location, reason, field FROM rejects`);
    assert.deepEqual(r, [{ location: 'raw/ev.csv:3', reason: 'missing_timestamp', field: 'timestamp' }]);
  } finally {
    await engine.close();
  }
});

test('a mapping that names a missing column fails with the source, field and the columns the file has', async () => {
  const dir = writeProject({ ...FILES, 'pipeline.yaml': CONFIG.replace('duration_seconds: duration', 'duration_seconds: durationn') });
  const { engine, run } = await openProject(dir);
  try {
    await assert.rejects(run(), /source moodle: fields\.duration_seconds\.column: column "durationn" is not in the file \(its columns are: id, eventname/);
    const n = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events WHERE source = 'moodle'`);
    assert.equal(Number(n!.n), 0, 'the failed load left nothing behind');
  } finally {
    await engine.close();
  }
});
void appendFileSync;
