import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { openProject, writeProject } from './helpers/ingest-fixture.js';
import { sharedData } from './helpers/shared-data.js';
import { validateStatement, durationSeconds } from '../src/sources/xapi/validate.js';
import { duplicateKeys } from '../src/sources/xapi/read.js';
import { DEFAULT_VERBS } from '../src/sources/xapi/verbs.js';
import { csvRow, FLAT_COLUMNS, type FlatRow } from '../src/sources/xapi/flatten.js';

const { dir: DATA, skip } = sharedData('xapi');

// ADL conformance templates are fragments the conformance suite composes into statements: statement
// templates are validated as they are; fragments are placed into the default statement where they belong.
const SLOT: Record<string, string> = { agents: 'actor', groups: 'actor', verbs: 'verb', activities: 'object', substatements: 'object', results: 'result', contexts: 'context' };
// Templates that are invalid as composed: by name (missing or invalid parts), plus the bases the suite
// completes with another fragment (an Agent with no identifier, a SubStatement with no parts, …) and the
// voided verb, whose object must be a StatementRef. Everything else must be accepted.
const INVALID_BY_NAME = /invalid|(numeric|string)_(name|description)\.json$|(^|_)no_(actor|verb|object|id|homepage|name)\.json$|anonymous_no_member|multiple_actor/;
const INVALID_BASES = [
  'statements/actor.json', 'statements/authority.json', 'statements/object_activity.json', 'statements/object_actor.json', 'statements/object_substatement.json', 'statements/verb.json',
  'substatements/activity.json', 'substatements/actor.json', 'substatements/agent.json', 'substatements/group.json', 'substatements/verb.json',
  'contexts/instructor.json', 'contexts/team.json', 'verbs/voided.json',
];

test('validator: every invalid ADL conformance template is rejected with a reason, every valid one accepted', { skip }, () => {
  const root = path.join(DATA, 'adl-conformance/test');
  let checked = 0;
  let invalid = 0;
  for (const version of readdirSync(root)) {
    const t = path.join(root, version, 'templates');
    const base = JSON.parse(readFileSync(path.join(t, 'statements/default.json'), 'utf8'));
    for (const dir of readdirSync(t).filter((d) => d in SLOT || d === 'statements')) {
      for (const f of readdirSync(path.join(t, dir)).filter((x) => x.endsWith('.json'))) {
        const name = `${dir}/${f}`;
        const text = readFileSync(path.join(t, dir, f), 'utf8');
        const frag = JSON.parse(text);
        const statement = dir === 'statements' ? frag : { ...structuredClone(base), [SLOT[dir]]: frag };
        // Repeated keys are caught by the reader (JSON.parse keeps the last one); the rest by the validator.
        const problems = [...validateStatement(statement).map((p) => `${p.path}: ${p.message}`), ...[...duplicateKeys(text).values()].map((k) => `duplicate key ${k}`)];
        const expectInvalid = INVALID_BY_NAME.test(f) || INVALID_BASES.includes(name);
        if (expectInvalid) {
          invalid++;
          assert.ok(problems.length > 0, `${version}/${name} is invalid but was accepted`);
          assert.ok(problems.every((p) => p.length > 5), `${version}/${name}: every problem has a reason`);
        } else assert.deepEqual(problems, [], `${version}/${name} is valid but was rejected`);
        checked++;
      }
    }
  }
  assert.ok(checked > 200, `checked ${checked} templates`);
  assert.ok(invalid > 60, `${invalid} invalid templates`);
});

test('validator: durations, IRIs, scores and voiding', () => {
  assert.equal(durationSeconds('PT1H2M3.5S'), 3723.5);
  assert.equal(durationSeconds('P1DT1S'), 86401);
  assert.equal(durationSeconds('PT'), null);
  assert.equal(durationSeconds('1H'), null);
  const ok = { actor: { mbox: 'mailto:a@b.c' }, verb: { id: 'http://adlnet.gov/expapi/verbs/passed' }, object: { id: 'http://x/y' }, result: { score: { raw: 5, min: 0, max: 10 }, duration: 'PT10S' } };
  assert.deepEqual(validateStatement(ok), []);
  const paths = (s: unknown) => validateStatement(s).map((p) => p.path);
  assert.deepEqual(paths({ ...ok, result: { score: { raw: 11, max: 10 } } }), ['result.score.raw']);
  assert.deepEqual(paths({ ...ok, result: { duration: '10 minutes' } }), ['result.duration']);
  assert.deepEqual(paths({ ...ok, verb: { id: 'not an iri' } }), ['verb.id']);
  assert.deepEqual(paths({ ...ok, actor: { mbox: 'a@b.c' } }), ['actor.mbox']);
  assert.deepEqual(paths({ ...ok, actor: { mbox: 'mailto:a@b.c', mbox_sha1sum: 'a'.repeat(40) } }), ['actor']);
  assert.deepEqual(paths({ ...ok, timestamp: '2024-01-01 10:00' }), ['timestamp']);
  assert.deepEqual(paths({ ...ok, id: 'nope' }), ['id']);
  assert.deepEqual(paths({ ...ok, verb: { id: 'http://adlnet.gov/expapi/verbs/voided' } }), ['object']);
  assert.deepEqual(paths({ ...ok, extra: 1 }), ['$.extra']);
});

/** Statements of the real data: the objects of each .json file (arrays unrolled). */
function docsOf(dir: string): Array<{ file: string; value: unknown }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((f) => {
      const v = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
      return (Array.isArray(v) ? v : [v]).map((value) => ({ file: f, value }));
    });
}

test('Open edX statements and the spec examples, end to end: every statement is an event, a duplicate or a reject', { skip }, async () => {
  const dir = writeProject({
    'pipeline.yaml': `warehouse: wh.duckdb
connectors:
  - name: edx
    kind: xapi
    path: ${JSON.stringify(path.join(DATA, 'openedx/*.json'))}
    verbs: { "https://w3id.org/xapi/dod-isd/verbs/deleted": comment }
  - name: spec
    kind: xapi
    path: ${JSON.stringify(path.join(DATA, 'spec-examples/*.json'))}
`,
  });
  const { engine, run } = await openProject(dir);
  const s = await run();
  for (const [name, sub] of [['edx', 'openedx'], ['spec', 'spec-examples']] as const) {
    // Identical files are loaded once (by content hash): expected counts come from the distinct files.
    const seen = new Set<string>();
    const files = readdirSync(path.join(DATA, sub)).filter((f) => f.endsWith('.json')).filter((f) => {
      const h = createHash('sha256').update(readFileSync(path.join(DATA, sub, f))).digest('hex');
      return seen.has(h) ? false : (seen.add(h), true);
    });
    const docs = docsOf(path.join(DATA, sub)).filter((d) => files.includes(d.file));
    const ev = s.sources.find((x) => x.source === name && x.target === 'events')!;
    assert.equal(ev.files_loaded, files.length, `${name}: files loaded`);
    assert.equal(ev.statements, docs.length, `${name}: every statement read`);
    assert.equal(ev.rows_read + ev.voiding!, docs.length);
    assert.ok(ev.reconciled);
    assert.equal(ev.rows_read, ev.accepted + ev.duplicates + ev.rejected);
    const valid = docs.filter((d) => validateStatement(d.value).length === 0);
    const invalid = docs.length - valid.length;
    const byReason = (r: string) => ev.rejects_by_reason[r] ?? 0;
    assert.equal(byReason('invalid_statement') + byReason('missing_actor') + byReason('missing_verb') + byReason('missing_object'), invalid, `${name}: invalid statements rejected`);
    const events = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events WHERE source = $1`, [name]))!.n);
    assert.equal(events, ev.accepted, `${name}: accepted rows are in events`);
    const rejects = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM rejects r JOIN loads l USING (load_id) WHERE r.source = $1 AND l.target = 'events'`, [name]))!.n);
    assert.equal(rejects, ev.rejected, `${name}: rejected rows are in rejects`);
    // Valid statements with a known verb are events (or repeats of one); their ids are the statement ids.
    // (Group actors are valid xAPI but not a learner: rejected as group_actor.)
    const known = valid.filter((d) => ((d.value as any).verb.id in DEFAULT_VERBS || (d.value as any).verb.id === 'https://w3id.org/xapi/dod-isd/verbs/deleted') && (d.value as any).actor.objectType !== 'Group');
    const loaded = new Set((await engine.all<{ event_id: string }>(`SELECT event_id FROM events WHERE source = $1`, [name])).map((r) => r.event_id));
    for (const d of known) {
      const id = (d.value as any).id;
      if (typeof id === 'string') assert.ok(loaded.has(`${name}:${id.toLowerCase()}`), `${d.file}: ${id} loaded`);
    }
  }
  // Open edX: rejects carry file and reason; locations are the source files, not landing files.
  const rej = await engine.all<{ location: string; reason: string; detail: string }>(`SELECT location, reason, detail FROM rejects WHERE source = 'edx' ORDER BY location`);
  assert.ok(rej.every((r) => /openedx\/.+\.json(:\d+|\[\d+\])$/.test(r.location)), JSON.stringify(rej.slice(0, 3)));
  const special = rej.find((r) => r.location.includes('special_exam.timed.attempt.created'))!;
  assert.equal(special.reason, 'invalid_statement');
  assert.match(special.detail, /context\.contextActivities\.grouping\[0\]\.id: expected an absolute IRI/);
  // Scores become assessments; courses come from the parent activity; accounts are pseudonymised.
  const a = await engine.all<{ score: number; max_score: number; passed: boolean | null }>(`SELECT score, max_score, passed FROM assessments WHERE source = 'edx' ORDER BY assessment_id`);
  assert.ok(a.length >= 2);
  assert.ok(a.every((r) => r.score === null || r.max_score === null || r.score <= r.max_score));
  const course = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events WHERE source = 'edx' AND course_id LIKE 'xapi:%course-v1:%'`);
  assert.ok(Number(course!.n) > 10, 'course ids from contextActivities.parent');
  const keys = await engine.all<{ key_kind: string }>(`SELECT DISTINCT key_kind FROM identity_map ORDER BY 1`);
  assert.ok(keys.some((k) => k.key_kind.startsWith('account:')));
  const raw = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events WHERE user_id LIKE '%@%' OR user_id LIKE 'mailto:%'`);
  assert.equal(Number(raw!.n), 0);
  // Loading again loads nothing twice.
  const again = await run();
  assert.equal(again.totals.files_loaded, 0);
  await engine.close();
});

test('the MOOC export: 22,000 gzipped statements, one a line, every one an event', { skip }, async () => {
  const file = path.join(DATA, 'fun-mooc/statements.json.gz');
  const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n').filter((l) => l.trim());
  const verbs = new Map<string, number>();
  const actors = new Set<string>();
  for (const l of lines) {
    const s = JSON.parse(l);
    const t = DEFAULT_VERBS[s.verb.id];
    verbs.set(t, (verbs.get(t) ?? 0) + 1);
    actors.add(s.actor.account.homePage + '|' + s.actor.account.name);
  }
  const dir = writeProject({ 'pipeline.yaml': `warehouse: wh.duckdb\nconnectors:\n  - { name: mooc, kind: xapi, path: ${JSON.stringify(file)} }\n` });
  const { engine, run } = await openProject(dir);
  const s = await run();
  const ev = s.sources.find((x) => x.source === 'mooc')!;
  assert.equal(ev.rows_read, lines.length);
  assert.equal(ev.accepted, 22000);
  assert.equal(ev.rejected, 0);
  const byType = await engine.all<{ event_type: string; n: number }>(`SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 1`);
  assert.deepEqual(Object.fromEntries(byType.map((r) => [r.event_type, Number(r.n)])), Object.fromEntries([...verbs].sort()));
  const users = await engine.one<{ n: number }>(`SELECT count(DISTINCT user_id) AS n FROM events`);
  assert.equal(Number(users!.n), actors.size);
  assert.equal(s.match_rates.find((m) => m.source === 'mooc')!.keys, actors.size);
  assert.equal(s.unmatched.filter((u) => u.source === 'mooc').length, actors.size, 'unmatched people are listed, not dropped');
  const withCourse = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events WHERE course_id = 'xapi:course-v1:FUN-MOOC+00002+session01'`);
  assert.ok(Number(withCourse!.n) > 0);
  await engine.close();
});

test('landing CSV rows follow FLAT_COLUMNS (the header the loader reads them with): quoted text, bare numbers, NULL empty', () => {
  const value = (c: string, i: number) => (i % 4 === 3 ? null : i % 4 === 2 ? i + 0.5 : `${c} "${i}"`);
  const row = Object.fromEntries(FLAT_COLUMNS.map((c, i) => [c, value(c, i)])) as FlatRow;
  const expected = FLAT_COLUMNS.map((c, i) => (i % 4 === 3 ? '' : i % 4 === 2 ? String(i + 0.5) : `"${c} ""${i}"""`)).join(',');
  assert.equal(csvRow(row), expected);
});
