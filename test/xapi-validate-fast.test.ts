// The validator's fast path (commonShapeValid) must never change an answer: every statement gets what
// the full walk says, whether the fast path took it or left it to the full walk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import fc from 'fast-check';
import { sharedData } from './helpers/shared-data.js';
import { commonShapeValid, validateStatement, validateStatementFully } from '../src/sources/xapi/validate.js';

const { dir: DATA, skip } = sharedData('xapi');

const same = (s: unknown, what: string) => assert.deepEqual(validateStatement(s), validateStatementFully(s), what);

const common = {
  id: '00000000-0000-4000-8000-000000000001',
  actor: { objectType: 'Agent', account: { homePage: 'http://example.com', name: 'u1' } },
  verb: { id: 'http://adlnet.gov/expapi/verbs/answered', display: { 'en-US': 'answered' } },
  object: { objectType: 'Activity', id: 'http://example.com/q1', definition: { type: 'http://adlnet.gov/expapi/activities/question', name: { 'en-US': 'Q1' }, interactionType: 'choice', correctResponsesPattern: ['a'], extensions: { 'http://example.com/x': 1 } } },
  result: { score: { raw: 5, min: 0, max: 10, scaled: 0.5 }, success: true, completion: false, response: 'a', duration: 'PT3S', extensions: { 'http://example.com/r': [1] } },
  context: {
    registration: '00000000-0000-4000-8000-000000000002',
    contextActivities: { parent: [{ id: 'http://example.com/course', definition: { type: 'http://adlnet.gov/expapi/activities/course' } }], grouping: { id: 'http://example.com/g' }, category: [] },
    platform: 'LMS',
    revision: 'r1',
    language: 'en-US',
    extensions: { 'http://example.com/c': 'x' },
  },
  timestamp: '2024-03-01T10:00:00.123+01:00',
  stored: '2024-03-01T10:00:01Z',
  version: '1.0.3',
};

test('fast path: the common shape is taken; unusual statements are left to the full walk', () => {
  assert.equal(commonShapeValid(common), true);
  assert.deepEqual(validateStatement(common), []);
  const unusual: Array<[string, Record<string, unknown>]> = [
    ['a Group actor', { actor: { objectType: 'Group', member: [{ mbox: 'mailto:a@b.c' }] } }],
    ['a SubStatement', { object: { objectType: 'SubStatement', actor: { mbox: 'mailto:a@b.c' }, verb: { id: 'http://x/v' }, object: { id: 'http://x/o' } } }],
    ['a voiding statement', { verb: { id: 'http://adlnet.gov/expapi/verbs/voided' }, object: { objectType: 'StatementRef', id: '00000000-0000-4000-8000-000000000003' } }],
    ['an authority', { authority: { mbox: 'mailto:a@b.c' } }],
    ['attachments', { attachments: [] }],
    ['an instructor', { context: { instructor: { mbox: 'mailto:a@b.c' } } }],
    ['interaction components', { object: { id: 'http://x/o', definition: { interactionType: 'choice', choices: [{ id: 'a' }] } } }],
  ];
  for (const [what, over] of unusual) {
    const s = { ...common, ...over };
    assert.equal(commonShapeValid(s), false, what);
    same(s, what);
  }
  // Wrong in the common shape: not taken, and the full walk says why.
  for (const [what, over] of [
    ['a score above max', { result: { score: { raw: 11, max: 10 } } }],
    ['a bad timestamp', { timestamp: '2024-03-01 10:00' }],
    ['a bad language tag', { verb: { id: 'http://x/v', display: { 'not a tag': 'x' } } }],
    ['an unknown key', { extra: 1 }],
    ['two identifiers', { actor: { mbox: 'mailto:a@b.c', openid: 'http://x/me' } }],
  ] as const) {
    const s = { ...common, ...over };
    assert.equal(commonShapeValid(s), false, what);
    assert.ok(validateStatement(s).length > 0, what);
    same(s, what);
  }
});

/** The statement with the value at `path` replaced (or deleted when `value` is undefined). */
function replaced(s: unknown, path: string[], value: unknown): unknown {
  const c = structuredClone(s) as Record<string, any>;
  let o = c;
  for (const k of path.slice(0, -1)) o = o[k];
  if (value === undefined) delete o[path[path.length - 1]];
  else o[path[path.length - 1]] = value;
  return c;
}

function paths(o: unknown, p: string[] = []): string[][] {
  return o && typeof o === 'object' ? Object.keys(o).flatMap((k) => [[...p, k], ...paths((o as Record<string, unknown>)[k], [...p, k])]) : [];
}

test('fast path: any value anywhere in a common statement gets the full walk\'s answer (property)', () => {
  const all = paths(common);
  const odd = fc.oneof(fc.jsonValue(), fc.constantFrom(undefined, '', 'x', 'not an iri', 'http://x/y', 'mailto:a@b.c', '2024-01-01T00:00:00Z', 'PT1S', 'en', -2, 0.5, 11, NaN, Infinity, 'Agent', 'Group', 'Activity', 'GroupActivity', 'SubStatement'));
  fc.assert(
    fc.property(fc.constantFrom(...all), odd, fc.constantFrom(...all), odd, (p1, v1, p2, v2) => {
      const once = replaced(common, p1, v1);
      same(once, `${p1.join('.')} = ${JSON.stringify(v1)}`);
      // A second change, where the first left an object to change.
      try {
        same(replaced(once, p2, v2), `${p1.join('.')} = ${JSON.stringify(v1)}, ${p2.join('.')} = ${JSON.stringify(v2)}`);
      } catch (e) {
        if (e instanceof TypeError) return;
        throw e;
      }
    }),
    { numRuns: 3000, seed: 6 },
  );
});

test('fast path: the real statements and the ADL conformance cases get the full walk\'s answer', { skip }, () => {
  const all: unknown[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, f.name);
      if (f.isDirectory()) walk(p);
      else if (f.name.endsWith('.json')) {
        let v: unknown;
        try {
          v = JSON.parse(readFileSync(p, 'utf8'));
        } catch {
          continue; // conformance cases of malformed JSON: the reader's, not the validator's
        }
        all.push(...(Array.isArray(v) ? v : [v]));
      }
    }
  };
  walk(DATA);
  const mooc = gunzipSync(readFileSync(path.join(DATA, 'fun-mooc/statements.json.gz'))).toString('utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  all.push(...mooc);
  // ADL templates are fragments: each also placed where it belongs in the default statement.
  const SLOT: Record<string, string> = { agents: 'actor', groups: 'actor', verbs: 'verb', activities: 'object', substatements: 'object', results: 'result', contexts: 'context' };
  const root = path.join(DATA, 'adl-conformance/test');
  for (const version of readdirSync(root)) {
    const t = path.join(root, version, 'templates');
    const base = JSON.parse(readFileSync(path.join(t, 'statements/default.json'), 'utf8'));
    for (const dir of readdirSync(t).filter((d) => d in SLOT)) {
      for (const f of readdirSync(path.join(t, dir)).filter((x) => x.endsWith('.json'))) all.push({ ...structuredClone(base), [SLOT[dir]]: JSON.parse(readFileSync(path.join(t, dir, f), 'utf8')) });
    }
  }
  let fast = 0;
  for (const s of all) {
    same(s, JSON.stringify(s).slice(0, 300));
    if (s && typeof s === 'object' && !Array.isArray(s) && commonShapeValid(s as Record<string, unknown>)) fast++;
  }
  assert.ok(all.length > 1000, `${all.length} statements`);
  // The MOOC export is the common shape: nearly all of it takes the fast path.
  assert.ok(fast > mooc.length * 0.9, `${fast} of ${all.length} took the fast path`);
});
