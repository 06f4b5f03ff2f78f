// Bad input, voiding, duplicates and identity rules for the xAPI connector, on small generated files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { openProject, writeProject } from './helpers/ingest-fixture.js';
import { ConfigError, parseConfigText } from '../src/config/load.js';

const V = 'http://adlnet.gov/expapi/verbs/';
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const st = (n: number, over: Record<string, unknown> = {}) => ({
  id: uuid(n),
  actor: { mbox: 'mailto:Ann@Example.com' },
  verb: { id: V + 'experienced' },
  object: { id: `http://example.com/activities/a${n % 3}`, definition: { name: { 'en-US': `Activity ${n % 3}` } } },
  timestamp: `2024-03-0${1 + (n % 9)}T10:00:00Z`,
  context: { contextActivities: { parent: [{ id: 'http://example.com/courses/c1', definition: { type: 'http://adlnet.gov/expapi/activities/course', name: { en: 'Course One' } } }] } },
  ...over,
});
const jsonl = (rows: Array<unknown | string>) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';

test('bad input ends in rejects with file:line and reason; voiding, duplicates and conflicts; results become assessments', async () => {
  const first = [
    st(1, { result: { duration: 'PT1H2M3.5S', score: { raw: 8, min: 0, max: 10 }, success: true }, verb: { id: V + 'passed' } }), // line 1
    '{"id": "broken", "actor": ', // line 2: malformed JSON
    st(3, { verb: { id: 'http://example.com/verbs/defenestrated' } }), // line 3: unknown verb
    (({ actor, ...rest }) => rest)(st(4)), // line 4: missing actor
    st(5), // line 5
    st(5), // line 6: the same statement again: a duplicate
    st(5, { timestamp: '2024-03-09T11:00:00Z' }), // line 7: same id, other content: a conflict
    st(8, { actor: { mbox_sha1sum: 'A'.repeat(40) }, result: { score: { scaled: 0.25 } } }), // line 8
    st(9, { verb: { id: V + 'voided' }, object: { objectType: 'StatementRef', id: uuid(8) } }), // line 9: voids line 8
    '', // blank lines are skipped
    st(10, { timestamp: 'yesterday' }), // line 11: invalid timestamp
  ];
  const dir = writeProject({
    'pipeline.yaml': `warehouse: wh.duckdb
connectors:
  - name: lrs_export
    kind: xapi
    path: raw/*.jsonl
`,
    'raw/a.jsonl': jsonl(first),
  });
  const { engine, run } = await openProject(dir);
  const s = await run();
  const ev = s.sources.find((x) => x.target === 'events')!;
  assert.equal(ev.statements, 10);
  assert.equal(ev.voiding, 1);
  assert.equal(ev.voided, 1);
  assert.equal(ev.rows_read, 9);
  assert.equal(ev.accepted, 3); // lines 1, 5, 8 (8 voided afterwards)
  assert.equal(ev.duplicates, 1);
  assert.equal(ev.rejected, 5);
  assert.ok(ev.reconciled);
  const rej = await engine.all<{ location: string; reason: string; field: string | null; detail: string; raw: string }>(`SELECT location, reason, field, detail, raw FROM rejects ORDER BY location`);
  assert.deepEqual(rej.map((r) => [r.location, r.reason, r.field]), [
    ['raw/a.jsonl:11', 'invalid_statement', 'timestamp'],
    ['raw/a.jsonl:2', 'malformed_json', null],
    ['raw/a.jsonl:3', 'unknown_verb', 'verb.id'],
    ['raw/a.jsonl:4', 'missing_actor', 'actor'],
    ['raw/a.jsonl:7', 'conflicting_duplicate', 'event_id'],
  ]);
  assert.match(rej[2].detail, /unknown verb http:\/\/example\.com\/verbs\/defenestrated; map it to an event type in connectors\[0\]\.verbs/);
  // Raw text is kept for inspection with emails redacted.
  assert.ok(rej.every((r) => r.raw && !/ann@example\.com/i.test(r.raw)), rej.map((r) => r.raw).join('\n'));
  const events = await engine.all<{ event_id: string; event_type: string; object_id: string; course_id: string; duration_seconds: number | null }>(`SELECT event_id, event_type, object_id, course_id, duration_seconds FROM events ORDER BY event_id`);
  assert.deepEqual(events.map((e) => e.event_id), [`lrs_export:${uuid(1)}`, `lrs_export:${uuid(5)}`]);
  assert.deepEqual(events[0], { event_id: `lrs_export:${uuid(1)}`, event_type: 'pass', object_id: 'xapi:http://example.com/activities/a1', course_id: 'xapi:http://example.com/courses/c1', duration_seconds: 3723.5 });
  const a = await engine.all<{ assessment_id: string; score: number; max_score: number; passed: boolean }>(`SELECT assessment_id, score, max_score, passed FROM assessments ORDER BY 1`);
  assert.deepEqual(a, [{ assessment_id: `lrs_export:${uuid(1)}`, score: 8, max_score: 10, passed: true }]); // line 8's was voided
  const content = await engine.one<{ title: string }>(`SELECT title FROM content WHERE object_id = 'xapi:http://example.com/courses/c1'`);
  assert.equal(content?.title, 'Course One');

  // A later file voids a statement loaded earlier and repeats one: nothing is loaded twice.
  writeFileSync(path.join(dir, 'raw/b.jsonl'), jsonl([st(20, { verb: { id: V + 'voided' }, object: { objectType: 'StatementRef', id: uuid(1).toUpperCase() } }), st(5)]));
  const s2 = await run();
  const ev2 = s2.sources.find((x) => x.target === 'events')!;
  assert.deepEqual([ev2.files_loaded, ev2.files_skipped, ev2.voided, ev2.duplicates, ev2.accepted], [1, 1, 1, 1, 0]);
  assert.deepEqual((await engine.all<{ event_id: string }>(`SELECT event_id FROM events`)).map((r) => r.event_id), [`lrs_export:${uuid(5)}`]);
  assert.equal(Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM assessments`))!.n), 0);
  const s3 = await run();
  assert.equal(s3.totals.files_loaded, 0);
  await engine.close();
});

test('a file loaded in parts (bounded memory): same result, rejects still located, counts reconcile', async () => {
  const { setPartRows } = await import('../src/sources/xapi/load.js');
  const rows = [...Array.from({ length: 25 }, (_, i) => st(100 + i)), 'not json', st(100), st(200, { verb: { id: V + 'voided' }, object: { objectType: 'StatementRef', id: uuid(101) } })];
  const dir = writeProject({ 'pipeline.yaml': 'warehouse: wh.duckdb\nconnectors:\n  - { name: x, kind: xapi, path: a.jsonl }\n', 'a.jsonl': jsonl(rows) });
  const { engine, run } = await openProject(dir);
  const before = setPartRows(10);
  try {
    const s = await run();
    const ev = s.sources.find((x) => x.target === 'events')!;
    assert.equal(s.loads.filter((l) => l.target === 'events').length, 3);
    assert.deepEqual([ev.statements, ev.rows_read, ev.accepted, ev.duplicates, ev.rejected, ev.voided], [28, 27, 25, 1, 1, 1]);
    assert.equal(Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events`))!.n), 24);
    assert.deepEqual(await engine.all(`SELECT location, reason FROM rejects`), [{ location: 'a.jsonl:26', reason: 'malformed_json' }]);
    assert.equal(Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM loaded_files`))!.n), 1);
  } finally {
    setPartRows(before);
    await engine.close();
  }
});

test('identity rules: HR email ↔ mbox and mbox_sha1sum, an account mapped to the LMS namespace, unmatched people listed', async () => {
  const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
  const dir = writeProject({
    'pipeline.yaml': `warehouse: wh.duckdb
identity:
  rules: [employee_id, email, mbox_sha1sum, account]
sources:
  - name: hris
    format: csv
    path: raw/hr.csv
    target: hr_records
    fields:
      user: { column: employee_id, kind: employee_id }
      email: email
      effective_from: effective_from
  - name: lms_users
    format: csv
    path: raw/users.csv
    target: users
    fields:
      user: { column: username, kind: lms_username }
      employee_id: employee_id
connectors:
  - name: lrs
    kind: xapi
    path: raw/statements.json
    accounts: { "https://lms.example.com": lms_username }
`,
    'raw/hr.csv': 'employee_id,email,effective_from\nE1,ann@example.com,2024-01-01\nE2,Bob@Example.com,2024-01-01\nE3,cy@example.com,2024-01-01\n',
    'raw/users.csv': 'username,employee_id\ncy.user,E3\n',
    'raw/statements.json': JSON.stringify([
      st(1, { actor: { mbox: 'mailto:ANN@example.com' } }),
      st(2, { actor: { mbox_sha1sum: sha1('mailto:bob@example.com') } }),
      st(3, { actor: { account: { homePage: 'https://lms.example.com/', name: 'cy.user' } } }),
      st(4, { actor: { account: { homePage: 'https://other.example.org', name: 'stranger' } } }),
    ]),
  });
  const { engine, run } = await openProject(dir);
  const s = await run();
  const hrIds = await engine.all<{ user_id: string }>(`SELECT DISTINCT user_id FROM hr_records ORDER BY 1`);
  const rules = await engine.all<{ key_kind: string; rule: string; user_id: string }>(`SELECT key_kind, rule, user_id FROM identity_map WHERE list_contains(sources, 'lrs') ORDER BY key_kind`);
  assert.deepEqual(rules.map((r) => [r.key_kind, r.rule]), [
    ['account:https://other.example.org', 'unmatched'],
    ['email', 'email'],
    ['lms_username', 'account'],
    ['mbox_sha1sum', 'mbox_sha1sum'],
  ]);
  // Matched statements carry the HR person's id; each of the three people is a different one.
  const matched = rules.filter((r) => r.rule !== 'unmatched').map((r) => r.user_id);
  assert.equal(new Set(matched).size, 3);
  assert.ok(matched.every((u) => hrIds.some((h) => h.user_id === u)));
  const evUsers = await engine.all<{ user_id: string }>(`SELECT user_id FROM events ORDER BY event_id`);
  assert.deepEqual(evUsers.map((e) => e.user_id).slice(0, 3), [rules[1].user_id, rules[3].user_id, rules[2].user_id]);
  const rate = s.match_rates.find((m) => m.source === 'lrs')!;
  assert.deepEqual([rate.keys, rate.matched], [4, 3]);
  assert.deepEqual(s.unmatched.filter((u) => u.source === 'lrs'), [{ source: 'lrs', key_kind: 'account:https://other.example.org', key_pseudonym: rules[0].user_id }]);
  assert.ok(/^[0-9a-f]{32}$/.test(rules[0].user_id), 'listed by pseudonym');
  const users = await engine.all<{ match_rule: string }>(`SELECT match_rule FROM users WHERE user_id IN (SELECT user_id FROM events) ORDER BY 1`);
  assert.deepEqual(users.map((u) => u.match_rule), ['employee_id', 'employee_id', 'employee_id', 'unmatched']);
  await engine.close();

  // Without the sha1 rule, the hashed mailbox stays unmatched.
  const dir2 = writeProject({});
  const cfg = (await import('node:fs')).readFileSync(path.join(dir, 'pipeline.yaml'), 'utf8').replace('rules: [employee_id, email, mbox_sha1sum, account]', 'rules: [employee_id, email]');
  for (const f of ['pipeline.yaml', 'raw/hr.csv', 'raw/users.csv', 'raw/statements.json']) writeProject({ [f]: f === 'pipeline.yaml' ? cfg : (await import('node:fs')).readFileSync(path.join(dir, f), 'utf8') }, dir2);
  const p2 = await openProject(dir2);
  const s2 = await p2.run();
  assert.deepEqual([s2.match_rates.find((m) => m.source === 'lrs')!.matched], [1]);
  await p2.engine.close();
});

test('config: connectors are validated with the path at fault', () => {
  const bad = (text: string) => {
    try {
      parseConfigText(text, 'pipeline.yaml');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.message;
    }
    assert.fail('expected a config error');
  };
  assert.match(bad('connectors:\n  - { name: x, kind: xapi }\n'), /connectors\[0\].*path.*lrs/);
  assert.match(bad('connectors:\n  - { name: x, kind: xapi, path: a.json, verbs: { "http://v/x": jumped } }\n'), /connectors\[0\]\.verbs/);
  assert.match(bad('connectors:\n  - { name: x, kind: xapi, lrs: { endpoint: "https://lrs", username_env: user, password_env: LRS_PASSWORD } }\n'), /username_env/);
  assert.match(bad('sources: []\nconnectors:\n  - { name: x, kind: xapi, path: a.json }\n  - { name: x, kind: caliper, path: b.json }\n'), /used twice/);
  const ok = parseConfigText('connectors:\n  - { name: x, kind: xapi, lrs: { endpoint: "https://lrs.example.com/xapi/", username_env: LRS_USER, password_env: LRS_PASSWORD } }\n', 'pipeline.yaml');
  assert.equal(ok.connectors[0].kind, 'xapi');
});

test('reader: JSON lines across chunk boundaries, multi-byte characters, CRLF, blank lines, no final newline', async () => {
  const { readDocuments } = await import('../src/sources/xapi/read.js');
  const lines: string[] = [];
  for (let i = 0; i < 30000; i++) lines.push(JSON.stringify({ i, s: 'é€😀'.repeat(i % 50), pad: 'x'.repeat(i % 300) }));
  const text = lines.map((l, i) => (i % 7 === 0 ? l + '\r\n' : i % 11 === 0 ? l + '\n\n' : l + '\n')).join('');
  const dir = writeProject({ 'a.jsonl': text.slice(0, -1) });
  let n = 0;
  let physical = 0;
  for await (const batch of readDocuments(path.join(dir, 'a.jsonl'), 'a.jsonl')) {
    for (const d of batch) {
      assert.ok(!('error' in d), d.loc);
      const v = (d as { value: { i: number; s: string } }).value;
      assert.equal(v.i, n);
      assert.equal(v.s, 'é€😀'.repeat(n % 50));
      physical = Number(d.loc.split(':')[1]);
      n++;
    }
  }
  assert.equal(n, 30000);
  assert.equal(physical, 30000 + Math.floor((29999 + 11) / 11) - 1 - Math.floor(29999 / 77), 'line numbers count blank lines');
});
