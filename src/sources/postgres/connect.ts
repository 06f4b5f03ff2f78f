// Postgres connections from config: the URL or the password come from environment variables the
// config names, so no secret is ever in pipeline.yaml, a log line or an error message.
import pg from 'pg';
import type { PgConnection } from '../../config/sources-postgres.js';
import { SourceReadError } from '../files.js';

/** Values arrive as Postgres text (no JS conversion): exact, and what the CSV landing writes anyway. */
const asText = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

export function clientConfig(conn: PgConnection, what: string): pg.ClientConfig {
  const cfg: pg.ClientConfig = { types: asText, application_name: 'learnpipe' };
  if (conn.url_env) {
    const url = process.env[conn.url_env];
    if (!url) throw new SourceReadError(`${what}: environment variable ${conn.url_env} (connection.url_env) is not set`);
    cfg.connectionString = url;
  }
  if (conn.host) cfg.host = conn.host;
  if (conn.port) cfg.port = conn.port;
  if (conn.database) cfg.database = conn.database;
  if (conn.user) cfg.user = conn.user;
  if (conn.password_env) {
    const pw = process.env[conn.password_env];
    if (pw === undefined) throw new SourceReadError(`${what}: environment variable ${conn.password_env} (connection.password_env) is not set`);
    cfg.password = pw;
  }
  if (conn.ssl !== undefined) cfg.ssl = conn.ssl;
  return cfg;
}

/** Where we connect, for messages: host, port and database only (never the URL, which may hold a password). */
export function describeConnection(c: pg.Client): string {
  return `${c.host ?? 'localhost'}:${c.port ?? 5432}/${c.database ?? ''}`;
}

export async function connect(conn: PgConnection, what: string, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const client = new pg.Client({ ...clientConfig(conn, what), ...extra });
  try {
    await client.connect();
  } catch (err) {
    throw new SourceReadError(`${what}: cannot connect to Postgres at ${describeConnection(client)}: ${safeMessage(err)}`, { cause: err });
  }
  // A connection dropped while idle surfaces as an 'error' event; the next query then fails with it.
  client.on('error', () => undefined);
  return client;
}

/** An error's first line, without anything that looks like a connection URL. */
export function safeMessage(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0].replace(/postgres(ql)?:\/\/\S+/gi, 'postgres://…');
}

/** A schema-qualified name quoted for Postgres ("public"."mdl_user"). The config already validated it. */
export function quoteQualified(name: string): string {
  return name.split('.').map((p) => `"${p.replaceAll('"', '""')}"`).join('.');
}
