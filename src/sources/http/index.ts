// Builds the HTTP endpoint from a loaded config: the two write-ahead logs, the credentials, the server.
import path from 'node:path';
import type { LoadedConfig } from '../../config/load.js';
import { readCredentials } from './auth.js';
import { StatementServer, type Validator } from './server.js';
import { WriteAheadLog } from './wal.js';

export { StatementServer } from './server.js';
export { WriteAheadLog } from './wal.js';
export { addClient, readCredentials, authenticate, RateLimiter, CredentialsError } from './auth.js';

export interface ServeOverrides {
  host?: string;
  port?: number;
  validators: { xapi: Validator; caliper: Validator };
  log?: (line: string) => void;
}

export async function createStatementServer(loaded: LoadedConfig, o: ServeOverrides): Promise<StatementServer> {
  const s = loaded.config.serve;
  const at = (p: string) => path.resolve(loaded.baseDir, p);
  const credentials = readCredentials(at(s.credentials));
  const xapi = await WriteAheadLog.open(path.join(at(s.wal_dir), 'xapi'), at(s.landing.xapi));
  const caliper = await WriteAheadLog.open(path.join(at(s.wal_dir), 'caliper'), at(s.landing.caliper));
  for (const [name, w] of [['xapi', xapi], ['caliper', caliper]] as const) {
    if (w.recovery.segments) o.log?.(`recovered ${w.recovery.segments} segment(s) of the ${name} log${w.recovery.tornBytes ? `, cut ${w.recovery.tornBytes} torn byte(s) that were never acknowledged` : ''}`);
  }
  return new StatementServer({
    host: o.host ?? s.host,
    port: o.port ?? s.port,
    credentials,
    xapi: { wal: xapi, validate: o.validators.xapi },
    caliper: { wal: caliper, validate: o.validators.caliper },
    maxBodyBytes: s.max_body_bytes,
    maxPendingBytes: s.max_pending_mb * 1024 * 1024,
    rateLimit: { perSecond: s.rate_limit.per_second, burst: s.rate_limit.burst },
    flushMs: s.flush_seconds * 1000,
    log: o.log,
  });
}
