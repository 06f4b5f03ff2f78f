// CLI commands `learnpipe cdc setup` and `learnpipe cdc run`: change data capture from Postgres
// logical replication (src/sources/postgres/cdc.ts). main.ts calls registerCdcCommands(program, …).
import type { Command, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import { openDuckDBWarehouse, openVault, pseudonymizerFor } from '../pipeline.js';
import { cdcRun, cdcSetup } from '../sources/postgres/cdc.js';

export function registerCdcCommands(
  program: Command,
  ctx: { globals: () => { json?: boolean; quiet?: boolean }; configOption: () => Option; emit: (json: boolean, human: () => void, data: unknown) => void },
): void {
  const cdc = program.command('cdc').description('Change data capture from a Postgres LMS database (logical replication, pgoutput).');
  cdc
    .command('setup')
    .description('Create the publication (the replicated tables, REPLICA IDENTITY FULL) and the logical replication slot; safe to run again.')
    .addOption(ctx.configOption())
    .action(async (o: { config: string }) => {
      const r = await cdcSetup(loadConfig(o.config));
      ctx.emit(ctx.globals().json ?? false, () => {
        console.log(`publication ${r.publication} (${r.created_publication ? 'created' : 'updated'}): ${r.tables.join(', ')}`);
        console.log(`slot ${r.slot}: ${r.created_slot ? 'created' : 'exists'}`);
      }, r);
    });
  cdc
    .command('run')
    .description('Apply every change waiting in the slot to the canonical tables, transaction by transaction, then stop (until idle).')
    .addOption(ctx.configOption())
    .option('--until-idle', 'stop when no change is waiting (the default and only mode)')
    .option('--as-of <date>', 'logical run date recorded with the loads')
    .action(async (o: { config: string; asOf?: string }) => {
      const loaded = loadConfig(o.config);
      const engine = await openDuckDBWarehouse(loaded, 'cdc run');
      try {
        const r = await cdcRun(engine, loaded, pseudonymizerFor(loaded), { asOf: o.asOf ?? null, vault: openVault(loaded) });
        const { loads, ...summary } = r;
        const rejected = loads.reduce((n, l) => n + l.rejected, 0);
        ctx.emit(ctx.globals().json ?? false, () => {
          console.log(`applied ${r.transactions} transaction(s): ${r.upserts} insert/update(s), ${r.deletes} delete(s) (${r.deleted_rows} canonical rows removed), ${rejected} rejected; confirmed LSN ${r.lsn ?? '—'}`);
          if (r.skipped_transactions) console.log(`skipped ${r.skipped_transactions} transaction(s) already applied`);
          if (r.truncates_ignored) console.log(`warning: ${r.truncates_ignored} TRUNCATE(s) were not applied; reload the source`);
        }, { ...summary, rejected, loads: loads.length });
      } finally {
        await engine.close();
      }
    });
}
