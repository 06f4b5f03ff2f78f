// CLI: `learnpipe serve` (the HTTP endpoint) and `learnpipe serve add-client <name>`.
// main.ts calls registerServeCommands(program, { configOption, globals }).
import { Command, CommanderError, Option } from 'commander';
import path from 'node:path';
import { loadConfig } from '../config/load.js';
import { addClient, createStatementServer, CredentialsError } from '../sources/http/index.js';
import { caliperEnvelopeProblems, xapiStatementProblems } from '../sources/http/validators.js';

const USAGE = 2;

export function registerServeCommands(program: Command, h: { configOption: () => Option; globals: () => { json?: boolean; quiet?: boolean } }): void {
  const serve = program
    .command('serve')
    .description(
      'Accept xAPI statements (POST/PUT /xAPI/statements) and Caliper envelopes (POST /caliper) over HTTP. A request is answered only after ' +
        'its statements are fsynced to the write-ahead log; every flush_seconds the log moves to the landing folders that the next `learnpipe run` loads. ' +
        'Stops gracefully on SIGTERM or Ctrl-C (requests in flight finish, the log is flushed).',
    )
    .addOption(h.configOption())
    .option('--host <host>', 'address to listen on (default: serve.host, 127.0.0.1)')
    .option('--port <port>', 'port to listen on; 0 picks a free one (default: serve.port, 8080)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CommanderError(USAGE, 'learnpipe.port', `--port expects 0–65535, got ${JSON.stringify(v)}`);
      return n;
    })
    .addHelpText(
      'after',
      `
Clients authenticate with a bearer token or Basic credentials listed (hashed) in serve.credentials:
  learnpipe serve add-client lms-prod            prints a new bearer secret once
  curl -H "Authorization: Bearer $SECRET" -H "X-Experience-API-Version: 1.0.3" \\
       -H "Content-Type: application/json" -d @statement.json http://127.0.0.1:8080/xAPI/statements
Answers: 200 ids · 204 (PUT) · 400 invalid (nothing stored) · 401 · 413 too large · 429 rate limit · 503 behind (Retry-After).
See docs/streaming.md.`,
    )
    .action(async (o: { config: string; host?: string; port?: number }) => {
      const loaded = loadConfig(o.config);
      const log = (line: string) => {
        if (!h.globals().quiet) process.stderr.write(`level=info event=serve ${line}\n`);
      };
      let server;
      try {
        server = await createStatementServer(loaded, { host: o.host, port: o.port, validators: { xapi: xapiStatementProblems, caliper: caliperEnvelopeProblems }, log });
      } catch (err) {
        if (err instanceof CredentialsError) throw new CommanderError(USAGE, 'learnpipe.serve', err.message);
        throw err;
      }
      const addr = await server.listen();
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          log(`stopping signal=${signal} (finishing requests in flight, flushing the log)`);
          server.close().then(
            () => {
              log(`stopped accepted_statements=${server.stats.accepted_statements} accepted_envelopes=${server.stats.accepted_envelopes}`);
              resolve();
            },
            (err: Error) => {
              // Acknowledged statements are in the log files whatever happened; the next start moves them.
              process.stderr.write(`level=error event=serve.stop_failed message=${JSON.stringify(err.message)}\n`);
              process.exitCode = 1;
              resolve();
            },
          );
        };
        // `on`, not `once`: a second signal during the drain must not kill the process half-way.
        process.on('SIGTERM', () => stop('SIGTERM'));
        process.on('SIGINT', () => stop('SIGINT'));
        // The one line on stdout: where the endpoint is (tests and scripts read it). Written only after the
        // signal handlers are in place, so a supervisor that stops us the moment it reads it gets a clean stop.
        process.stdout.write(`listening on http://${addr.address}:${addr.port}\n`);
      });
    });

  serve
    .command('add-client <name>')
    .description('Add a client to serve.credentials and print its new secret (shown once; only a salted hash is stored).')
    .option('--basic', 'a Basic-auth client (user = name, password = the secret) instead of a bearer token')
    .action((name: string, _o: unknown, cmd: Command) => {
      // -c/--config belongs to `serve` and is read from there, before or after `add-client`.
      const o = cmd.optsWithGlobals<{ config: string; basic?: boolean }>();
      const loaded = loadConfig(o.config);
      const file = path.resolve(loaded.baseDir, loaded.config.serve.credentials);
      let secret: string;
      try {
        secret = addClient(file, name, o.basic ? 'basic' : 'bearer');
      } catch (err) {
        if (err instanceof CredentialsError) throw new CommanderError(USAGE, 'learnpipe.serve', err.message);
        throw err;
      }
      if (h.globals().json) process.stdout.write(JSON.stringify({ client: name, scheme: o.basic ? 'basic' : 'bearer', secret, credentials: file }) + '\n');
      else process.stdout.write(`added ${name} to ${file}\nsecret (shown once, store it in the client's secret store):\n${secret}\n`);
    });
}
