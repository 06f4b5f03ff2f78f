// Reads statements from an LRS's REST API (GET statements): oldest stored first, `since` the position
// saved by the last run, `until` the start of this run, following `more` links page by page. Each page
// is landed as a JSON file (an audit trail, hashed into loaded_files) and loaded in its own transaction
// together with the new position (the `stored` time of its newest statement) in source_positions, so a
// failure mid-paging resumes after the last page loaded: nothing lost, nothing loaded twice.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../../engine/engine.js';
import type { LoadedConfig } from '../../config/load.js';
import type { LrsConfig, XapiConnectorConfig } from '../../config/sources-xapi.js';
import { SourceReadError } from '../files.js';
import type { Doc } from './read.js';
import { landingDir, type UnitResult } from './load.js';

export interface Page {
  input: string;
  sha256: string;
  docs: Doc[];
}

export class LrsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LrsError';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET with Basic auth and the version header; retries 429, 5xx and network failures with backoff. */
async function getJson(url: URL, lrs: LrsConfig, auth: string, source: string): Promise<unknown> {
  // The URL is shown without its query (it may carry tokens of the LRS's own paging).
  const shown = `${url.origin}${url.pathname}`;
  for (let attempt = 0; ; attempt++) {
    let res: Response | null = null;
    let failure = '';
    try {
      res = await fetch(url, {
        headers: { Authorization: `Basic ${auth}`, 'X-Experience-API-Version': lrs.version, Accept: 'application/json' },
        signal: AbortSignal.timeout(lrs.timeout_ms),
      });
    } catch (err) {
      failure = (err as Error).message;
    }
    if (res && res.ok) {
      const text = await res.text();
      try {
        return JSON.parse(text);
      } catch (err) {
        throw new LrsError(`source ${source}: the LRS at ${shown} answered with malformed JSON: ${(err as Error).message}`);
      }
    }
    const retryable = !res || res.status === 429 || res.status >= 500;
    if (!retryable || attempt >= lrs.max_retries) {
      if (res?.status === 401 || res?.status === 403) {
        throw new LrsError(`source ${source}: the LRS at ${shown} refused the credentials (HTTP ${res.status}); check ${lrs.username_env} and ${lrs.password_env}`);
      }
      const why = res ? `HTTP ${res.status} ${(await res.text().catch(() => '')).slice(0, 200)}` : failure;
      throw new LrsError(`source ${source}: GET ${shown} failed after ${attempt + 1} attempt(s): ${why}`);
    }
    // Retry-After (seconds) when the LRS gives one, else exponential backoff.
    const after = Number(res?.headers.get('retry-after'));
    await res?.body?.cancel().catch(() => {});
    await sleep(Number.isFinite(after) && after > 0 ? Math.min(after, 60) * 1000 : lrs.retry_base_ms * 2 ** attempt);
  }
}

/** Pulls new statements page by page; `loadPage` runs inside the page's transaction. Returns the new position. */
export async function pullLrs(engine: Engine, loaded: LoadedConfig, c: XapiConnectorConfig, lrs: LrsConfig, loadPage: (p: Page) => Promise<UnitResult>): Promise<string | null> {
  const user = process.env[lrs.username_env];
  const pass = process.env[lrs.password_env];
  if (!user || pass === undefined) throw new SourceReadError(`source ${c.name}: set the LRS credentials in the environment variables ${lrs.username_env} and ${lrs.password_env}`);
  const auth = Buffer.from(`${user}:${pass}`).toString('base64');
  const saved = await engine.one<{ position: string }>(`SELECT position FROM source_positions WHERE source = $1`, [c.name]);
  let position: string | null = saved?.position ?? null;
  // `since` is exclusive and `stored` may repeat across a page boundary: start 1 ms earlier; statements
  // seen again are recognised by id as duplicates.
  const since = position ? new Date(Date.parse(position) - 1).toISOString() : (lrs.since ?? null);
  const until = new Date().toISOString();
  const endpoint = new URL(lrs.endpoint.endsWith('/') ? lrs.endpoint : lrs.endpoint + '/');
  let url: URL | null = new URL('statements', endpoint);
  url.searchParams.set('limit', String(lrs.page_size));
  url.searchParams.set('ascending', 'true');
  url.searchParams.set('until', until);
  if (since) url.searchParams.set('since', since);
  const dir = path.join(landingDir(loaded.config, loaded.baseDir, c.name), 'pages');
  mkdirSync(dir, { recursive: true });
  while (url) {
    const body = (await getJson(url, lrs, auth, c.name)) as { statements?: unknown; more?: unknown };
    if (!body || !Array.isArray(body.statements)) throw new LrsError(`source ${c.name}: the LRS answered without a statements array`);
    const statements = body.statements as Array<Record<string, unknown>>;
    if (statements.length) {
      const text = JSON.stringify(statements);
      const sha = createHash('sha256').update(text).digest('hex');
      const newest = statements.map((s) => (typeof s?.stored === 'string' ? s.stored : null)).filter((s): s is string => s !== null && !Number.isNaN(Date.parse(s))).sort((a, b) => Date.parse(a) - Date.parse(b)).pop() ?? null;
      const first = statements[0]?.stored;
      const file = path.join(dir, `${String(first ?? 'page').replace(/[^0-9A-Za-z]/g, '')}-${sha.slice(0, 12)}.json`);
      writeFileSync(file, text);
      const input = path.relative(loaded.baseDir, file) || file;
      const docs: Doc[] = statements.map((s, i) => ({ loc: `lrs:${typeof s?.id === 'string' ? s.id : `${input}[${i}]`}`, value: s }));
      await engine.transaction(async () => {
        if (await engine.one(`SELECT 1 FROM loaded_files WHERE source = $1 AND sha256 = $2`, [c.name, sha])) return;
        const r = await loadPage({ input, sha256: sha, docs });
        if (newest && (!position || Date.parse(newest) > Date.parse(position))) {
          position = newest;
          await engine.run(`DELETE FROM source_positions WHERE source = $1`, [c.name]);
          await engine.run(`INSERT INTO source_positions (source, position, position_kind, load_id) VALUES ($1, $2, 'stored', $3)`, [c.name, newest, r.lastLoadId]);
        }
      });
    }
    url = typeof body.more === 'string' && body.more ? new URL(body.more, endpoint) : null;
  }
  return position;
}
