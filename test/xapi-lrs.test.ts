// The LRS connector against a small real LRS (node:http) serving real statements: Basic auth, the
// version header, since/until, `more` paging, 429 and 503 answers, and a resume after a failure
// mid-paging that loses nothing and loads nothing twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { openProject, writeProject } from './helpers/ingest-fixture.js';
import { sharedData } from './helpers/shared-data.js';

const { dir: DATA, skip } = sharedData('xapi');
const USER = 'learnpipe';
const PASS = 's3cr3t-Pa55';

interface Lrs {
  url: string;
  requests: Array<{ path: string; status: number }>;
  /** Answer the n-th request (1-based) with this status instead. */
  faults: Map<number, number>;
  /** From this request on, answer 500 (an outage). */
  downFrom: number;
  close(): Promise<void>;
}

async function startLrs(statements: Array<Record<string, unknown>>): Promise<Lrs> {
  const lrs: Lrs = { url: '', requests: [], faults: new Map(), downFrom: Infinity, close: async () => {} };
  const byStored = [...statements].sort((a, b) => String(a.stored).localeCompare(String(b.stored)));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const n = lrs.requests.length + 1;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      lrs.requests.push({ path: req.url ?? '', status });
      res.writeHead(status, { 'Content-Type': 'application/json', 'X-Experience-API-Version': '1.0.3', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`) return send(401, { error: 'unauthorized' });
    if (!/^1\.0(\.\d)?$/.test(String(req.headers['x-experience-api-version']))) return send(400, { error: 'missing or bad X-Experience-API-Version' });
    if (n >= lrs.downFrom) return send(500, { error: 'outage' });
    const fault = lrs.faults.get(n);
    if (fault) return send(fault, { error: 'try later' }, fault === 429 ? { 'Retry-After': '0' } : {});
    const u = new URL(req.url ?? '/', 'http://lrs');
    if (u.pathname !== '/xapi/statements') return send(404, { error: 'not found' });
    const since = u.searchParams.get('since');
    const until = u.searchParams.get('until');
    const limit = Number(u.searchParams.get('limit') ?? 100);
    const offset = Number(u.searchParams.get('offset') ?? 0);
    if (u.searchParams.get('ascending') !== 'true') return send(400, { error: 'this test LRS expects ascending=true' });
    const match = byStored.filter((s) => (!since || Date.parse(String(s.stored)) > Date.parse(since)) && (!until || Date.parse(String(s.stored)) <= Date.parse(until)));
    const page = match.slice(offset, offset + limit);
    const next = new URLSearchParams(u.searchParams);
    next.set('offset', String(offset + limit));
    send(200, { statements: page, more: offset + limit < match.length ? `/xapi/statements?${next}` : '' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  lrs.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/xapi/`;
  lrs.close = () => new Promise((r) => server.close(() => r()));
  return lrs;
}

/** 1,000 real statements of the MOOC export, stored one second apart (the export has no stored times). */
function statements(): Array<Record<string, unknown>> {
  const lines = gunzipSync(readFileSync(path.join(DATA, 'fun-mooc/statements.json.gz'))).toString('utf8').split('\n').filter((l) => l.trim()).slice(0, 1000);
  return lines.map((l, i) => ({ ...JSON.parse(l), stored: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString() }));
}

const config = (url: string) => `warehouse: wh.duckdb
connectors:
  - name: lrs
    kind: xapi
    lrs:
      endpoint: ${url}
      username_env: TEST_LRS_USER
      password_env: TEST_LRS_PASSWORD
      page_size: 100
      max_retries: 2
      retry_base_ms: 1
`;

test('LRS: paging, auth, version header, retries on 429/503, resume after an outage mid-paging', { skip }, async () => {
  const all = statements();
  const lrs = await startLrs(all);
  process.env.TEST_LRS_USER = USER;
  process.env.TEST_LRS_PASSWORD = PASS;
  try {
    const dir = writeProject({ 'pipeline.yaml': config(lrs.url) });
    const { engine, run } = await openProject(dir);
    // Request 2 is throttled, 4 fails once (both retried); from request 7 on the LRS is down.
    lrs.faults.set(2, 429);
    lrs.faults.set(4, 503);
    lrs.downFrom = 7;
    await assert.rejects(run(), (err: Error) => /GET http:\/\/127\.0\.0\.1:\d+\/xapi\/statements failed after 3 attempt\(s\): HTTP 500/.test(err.message) && !err.message.includes(PASS));
    // Pages 1-4 (requests 1, 3, 5, 6 succeeded) were loaded and committed, with their position.
    const loaded = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events`))!.n);
    assert.equal(loaded, 400);
    const pos = await engine.one<{ position: string; position_kind: string }>(`SELECT position, position_kind FROM source_positions WHERE source = 'lrs'`);
    assert.deepEqual(pos, { position: all[399].stored, position_kind: 'stored' });
    assert.ok(lrs.requests.some((r) => r.status === 429) && lrs.requests.some((r) => r.status === 503));

    // The LRS is back: the next run resumes after the last page loaded.
    lrs.downFrom = Infinity;
    const before = lrs.requests.length;
    const s = await run();
    const resumed = lrs.requests.slice(before);
    assert.match(decodeURIComponent(resumed[0].path), /since=2024-01-01T00:06:38\.999Z/);
    const ev = s.sources.find((x) => x.source === 'lrs')!;
    // Resuming 1 ms before the position re-reads the last statement loaded: a duplicate, not a new row.
    assert.deepEqual([ev.accepted, ev.duplicates, ev.rejected], [600, 1, 0]);
    const rows = await engine.one<{ n: number; ids: number }>(`SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM events`);
    assert.deepEqual([Number(rows!.n), Number(rows!.ids)], [1000, 1000]);
    const want = new Set(all.map((x) => `lrs:${x.id}`));
    for (const r of await engine.all<{ event_id: string }>(`SELECT event_id FROM events`)) assert.ok(want.has(r.event_id));
    assert.equal((await engine.one<{ position: string }>(`SELECT position FROM source_positions`))!.position, all[999].stored);
    // Each page is landed as a file and recorded with its SHA-256.
    const files = await engine.all<{ path: string; sha256: string }>(`SELECT path, sha256 FROM loaded_files WHERE source = 'lrs' ORDER BY path`);
    assert.equal(files.length, 11);
    assert.ok(files.every((f) => f.path.startsWith('landing/lrs/pages/') && /^[0-9a-f]{64}$/.test(f.sha256)));
    // Nothing new: the one statement re-read is a page already loaded (same content hash), skipped.
    const s2 = await run();
    assert.equal(s2.totals.accepted, 0);
    assert.equal(Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events`))!.n), 1000);
    await engine.close();
  } finally {
    await lrs.close();
  }
});

test('LRS: wrong credentials and missing environment variables fail clearly, without the secret', { skip }, async () => {
  const lrs = await startLrs(statements().slice(0, 10));
  try {
    const dir = writeProject({ 'pipeline.yaml': config(lrs.url) });
    const { engine, run } = await openProject(dir);
    delete process.env.TEST_LRS_USER;
    await assert.rejects(run(), /set the LRS credentials in the environment variables TEST_LRS_USER and TEST_LRS_PASSWORD/);
    process.env.TEST_LRS_USER = USER;
    process.env.TEST_LRS_PASSWORD = 'wrong-password';
    await assert.rejects(run(), (err: Error) => /refused the credentials \(HTTP 401\); check TEST_LRS_USER and TEST_LRS_PASSWORD/.test(err.message) && !err.message.includes('wrong-password'));
    assert.equal(Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events`))!.n), 0);
    await engine.close();
  } finally {
    await lrs.close();
  }
});
