// The Caliper connector on the IMS fixtures and the spec's examples, plus generated bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { openProject, writeProject } from './helpers/ingest-fixture.js';
import { sharedData } from './helpers/shared-data.js';
import { caliperDocuments, validateCaliperEvent } from '../src/sources/caliper/flatten.js';

const { dir: DATA, skip } = sharedData('caliper');

test('Caliper 1.1 fixtures and spec examples: events, scores, sessions; every document accounted for', { skip }, async () => {
  const dir = writeProject({
    'pipeline.yaml': `warehouse: wh.duckdb
connectors:
  - name: caliper
    kind: caliper
    path: ${JSON.stringify(path.join(DATA, '*/*.json'))}
    actors: { "https://example.edu/users/": sis_id }
    actions: { Created: view, Modified: view, Activated: view, Searched: view, Skipped: answer }
`,
  });
  const { engine, run } = await openProject(dir);
  const s = await run();
  const ev = s.sources.find((x) => x.target === 'events')!;
  // Independent count: the documents of every distinct file (envelopes unrolled).
  const seen = new Set<string>();
  let docs = 0;
  let events = 0;
  for (const sub of readdirSync(DATA).filter((d) => !d.endsWith('.md'))) {
    for (const f of readdirSync(path.join(DATA, sub)).filter((x) => x.endsWith('.json'))) {
      const text = readFileSync(path.join(DATA, sub, f), 'utf8');
      if (seen.has(text)) continue;
      seen.add(text);
      for (const d of caliperDocuments(JSON.parse(text))) {
        docs++;
        if (validateCaliperEvent(d.value).length === 0) events++;
      }
    }
  }
  assert.equal(ev.statements, docs);
  assert.equal(ev.rows_read, ev.accepted + ev.duplicates + ev.rejected);
  assert.ok(ev.reconciled);
  const r = (k: string) => ev.rejects_by_reason[k] ?? 0;
  // Every document that is not a valid event is rejected as an entity or an invalid event.
  assert.equal(r('not_an_event') + r('invalid_event') + r('missing_actor') + r('missing_action') + r('missing_object') + r('malformed_json'), docs - events);
  assert.ok(r('not_an_event') > 30, 'entity fixtures are not events');
  assert.equal(Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events WHERE source = 'caliper'`))!.n), ev.accepted);
  // GradeEvent: the autograder grades the learner's attempt; the score goes to the learner (the assignee).
  const grade = JSON.parse(readFileSync(path.join(DATA, 'ims-fixtures-1.1/caliperEventGradeGraded.json'), 'utf8'));
  const a = await engine.one<{ user_id: string; object_id: string; score: number; max_score: number }>(`SELECT user_id, object_id, score, max_score FROM assessments WHERE assessment_id = $1`, [`caliper:${grade.id.replace('urn:uuid:', '')}`]);
  // (The same event id recurs in several fixtures, some with a versioned object id: the first loaded is kept.)
  assert.deepEqual([a?.object_id.split('?')[0], a?.score, a?.max_score], [`caliper:${grade.object.assignable.id}`, grade.generated.scoreGiven, grade.generated.maxScore]);
  const login = JSON.parse(readFileSync(path.join(DATA, 'ims-fixtures-1.1/caliperEventSessionLoggedIn.json'), 'utf8'));
  const l = await engine.one<{ user_id: string; event_type: string }>(`SELECT user_id, event_type FROM events WHERE event_id = $1`, [`caliper:${login.id.replace('urn:uuid:', '')}`]);
  assert.equal(l?.event_type, 'login');
  assert.equal(l?.user_id, a?.user_id, 'the same person (sis_id 554433) as actor and as assignee');
  const kinds = await engine.all<{ key_kind: string }>(`SELECT DISTINCT key_kind FROM identity_map ORDER BY 1`);
  assert.ok(kinds.some((k) => k.key_kind === 'sis_id'));
  const course = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events WHERE course_id = 'caliper:https://example.edu/terms/201601/courses/7/sections/1'`);
  assert.ok(Number(course!.n) > 5);
  await engine.close();
});

test('Caliper bad input: malformed JSON, a missing actor, an unknown action, a tool as actor', async () => {
  const ev = (n: number, over: Record<string, unknown> = {}) => ({
    '@context': 'http://purl.imsglobal.org/ctx/caliper/v1p2',
    id: `urn:uuid:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    type: 'NavigationEvent',
    actor: { id: 'https://u.example.edu/users/7', type: 'Person' },
    action: 'NavigatedTo',
    object: { id: 'https://u.example.edu/pages/1', type: 'WebPage', name: 'Syllabus' },
    eventTime: '2024-05-01T09:00:00.000Z',
    ...over,
  });
  const envelope = { sensor: 'https://u.example.edu/sensor', sendTime: '2024-05-01T09:00:01.000Z', dataVersion: 'http://purl.imsglobal.org/ctx/caliper/v1p2', data: [ev(1), ev(2, { actor: undefined }), ev(3, { action: 'Teleported' }), ev(4, { actor: { id: 'https://u.example.edu/tool', type: 'SoftwareApplication' } }), ev(1)] };
  const dir = writeProject({
    'pipeline.yaml': 'warehouse: wh.duckdb\nconnectors:\n  - { name: cal, kind: caliper, path: "raw/*.json*" }\n',
    'raw/a.json': JSON.stringify(envelope, null, 2),
    'raw/b.jsonl': JSON.stringify(ev(9)) + '\n{"id": oops}\n',
  });
  const { engine, run } = await openProject(dir);
  const s = await run();
  const e = s.sources.find((x) => x.target === 'events')!;
  assert.deepEqual([e.statements, e.accepted, e.duplicates, e.rejected], [7, 2, 1, 4]);
  const rej = await engine.all<{ location: string; reason: string }>(`SELECT location, reason FROM rejects ORDER BY location`);
  assert.deepEqual(rej.map((x) => [x.location, x.reason]), [
    ['raw/a.json:1#data[1]', 'missing_actor'],
    ['raw/a.json:1#data[2]', 'unknown_action'],
    ['raw/a.json:1#data[3]', 'non_person_actor'],
    ['raw/b.jsonl:2', 'malformed_json'],
  ]);
  const names = await engine.all<{ title: string }>(`SELECT title FROM content`);
  assert.deepEqual(names.map((n) => n.title), ['Syllabus']);
  await engine.close();
});
