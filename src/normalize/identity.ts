// Identity at the door: raw user keys are pseudonymised (in JS, for the few distinct values only) and
// resolved to one person by deterministic rules: an employee id links records first, then a
// normalised email (when enabled). Resolution is recomputed from all links after every load, so the
// result does not depend on the order sources were loaded in; rows already loaded are re-keyed.
import type { Engine } from '../engine/engine.js';
import { ALL_TABLES } from '../schema/canonical.js';
import { createHash } from 'node:crypto';
import { normalizeKey, type Pseudonymizer } from '../privacy/pseudonym.js';
import type { KeyRole } from './mapping.js';
import { IDENTITY_RULES, type FileSourceConfig, type PipelineConfig } from '../config/schema.js';

export const KEYS = '__keys';

/** Pseudonymises the distinct raw values of each key role found in `fromTable` into KEYS(role, kind, raw, pseudonym). */
export async function pseudonymizeKeys(engine: Engine, pz: Pseudonymizer, roles: KeyRole[], fromTable: string): Promise<number> {
  await engine.run(`DROP TABLE IF EXISTS ${KEYS}`);
  await engine.run(engine.dialect.createTempTable(KEYS, [['role', 'varchar'], ['kind', 'varchar'], ['raw', 'varchar'], ['pseudonym', 'varchar']]));
  let n = 0;
  for (const r of roles) {
    const kind = r.kindColumn ?? `CAST(${engine.dialect.quoteString(r.kind)} AS VARCHAR)`;
    const rows = await engine.all<{ kind: string; raw: string }>(`SELECT DISTINCT ${kind} AS kind, ${r.column} AS raw FROM ${fromTable} WHERE ${r.column} IS NOT NULL ORDER BY 1, 2`);
    const out = rows.map((x) => [r.role, x.kind, x.raw, pz.of(x.kind, x.raw)] as [string, string, string, string | null]);
    // An email also stands for the xAPI mbox_sha1sum of the same address: registered as a key of the
    // same person so statements that carry only the hash resolve to them (identity rule mbox_sha1sum).
    if (r.role === 'email' || (r.role === 'user' && !r.kindColumn && r.kind === 'email')) {
      for (const x of rows) {
        const norm = normalizeKey('email', x.raw);
        if (norm) out.push(['email_sha1', 'mbox_sha1sum', x.raw, pz.pseudonym('mbox_sha1sum', createHash('sha1').update('mailto:' + norm).digest('hex'))]);
      }
    }
    await engine.appendRows(KEYS, out);
    n += out.length;
  }
  return n;
}

/** Records every person key (user, manager) this load presented; new ones are their own person until resolved. */
export async function registerKeys(engine: Engine, source: string): Promise<void> {
  const d = engine.dialect;
  await engine.run(
    `INSERT INTO identity_map (key_kind, key_pseudonym, user_id, rule, sources)
     SELECT DISTINCT k.kind, k.pseudonym, k.pseudonym, 'unmatched', [$1] FROM ${KEYS} k
     WHERE k.role IN ('user', 'manager') AND k.pseudonym IS NOT NULL AND NOT ${d.hasMatch('k', '(SELECT key_kind AS kind, key_pseudonym AS pseudonym FROM identity_map)', 'm', ['kind', 'pseudonym'], [])}`,
    [source],
  );
  const keys = `(SELECT DISTINCT kind, pseudonym FROM ${KEYS} WHERE role IN ('user', 'manager'))`;
  for (const sql of d.updateFrom('identity_map', [['sources', d.arraySortedAppend('identity_map.sources', '$1')]], keys, 'k', [['key_kind', 'kind'], ['key_pseudonym', 'pseudonym']], `NOT ${d.arrayContains('identity_map.sources', '$1')}`)) {
    await engine.run(sql, [source]);
  }
}

/**
 * After an HR or user-directory load: links the mbox_sha1sum of every email the batch carried to the
 * same employee id / email as the record (rows of view `mk`, the mapped rows with pseudonyms).
 */
export async function linkEmailHashes(engine: Engine, source: FileSourceConfig, mk: string): Promise<void> {
  const f = source.fields;
  const byUserKey = !f.email && f.user?.kind === 'email';
  if (!f.email && !byUserKey) return;
  const emailRaw = f.email ? 'm.r_email' : 'm.r_user';
  const emailPz = f.email ? 'm.email_pseudonym' : 'm.user_pseudonym';
  const emp = source.target === 'hr_records' ? `CASE WHEN m.user_kind = 'employee_id' THEN m.user_pseudonym END` : f.employee_id ? 'm.employee_id_pseudonym' : engine.dialect.typedNull('varchar');
  const name = engine.dialect.quoteString(source.name);
  const d = engine.dialect;
  const hashes = `(SELECT pseudonym AS key_pseudonym FROM ${KEYS} WHERE role = 'email_sha1')`;
  for (const sql of d.deleteWhere('identity_links', 'l', `l.source = ${name} AND l.key_kind = 'mbox_sha1sum' AND ${d.hasMatch('l', hashes, 'k', ['key_pseudonym'], [])}`, ['source', 'key_kind', 'key_pseudonym'])) await engine.run(sql);
  await engine.run(`INSERT INTO identity_links (source, key_kind, key_pseudonym, employee_id_pseudonym, email_pseudonym)
    SELECT ${name}, 'mbox_sha1sum', k.pseudonym, ${d.argMax(emp, 'm.__row')}, ${d.argMax(emailPz, 'm.__row')}
    FROM ${mk} m JOIN ${KEYS} k ON k.role = 'email_sha1' AND k.raw = ${emailRaw} WHERE m.__reject IS NULL GROUP BY k.pseudonym ORDER BY k.pseudonym`);
}

const REKEY: Array<[table: string, column: string]> = [
  ['events', 'user_id'],
  ['enrollments', 'user_id'],
  ['assessments', 'user_id'],
  ['hr_records', 'user_id'],
  ['hr_records', 'manager_id'],
];

/** The identity options of a config: rules in order, and the id namespaces xAPI accounts map to. */
export function identityOptions(config: PipelineConfig): { matchByEmail: boolean; rules: readonly string[]; accountKinds: string[] } {
  return {
    matchByEmail: config.identity.match_by_email,
    rules: config.identity.rules,
    accountKinds: [...new Set(config.connectors.flatMap((c) => (c.kind === 'xapi' ? Object.values(c.accounts) : [])))].sort(),
  };
}


/**
 * Recomputes every key's person from the links and re-keys loaded rows whose person changed. Rules are
 * tried in the configured order; the first that links a key to an employee id wins and is recorded:
 * employee_id (the key is, or a record links it to, an employee id), email (the normalised email is an
 * HR person's), mbox_sha1sum (the hash of an HR person's email), account (an xAPI account whose home page
 * is mapped to an id namespace `accountKinds` that a directory links to a person).
 */
export async function resolveIdentities(engine: Engine, opts: { matchByEmail: boolean; rules?: readonly string[]; accountKinds?: readonly string[] }): Promise<{ changed: number; splits: number }> {
  const rules = (opts.rules ?? IDENTITY_RULES).filter((r) => r !== 'email' || opts.matchByEmail);
  const email = rules.includes('email') ? 'true' : 'false';
  const kinds = (opts.accountKinds ?? []).map((k) => engine.dialect.quoteString(k));
  const isSha = `p.key_kind = 'mbox_sha1sum'`;
  const isAcct = `(p.key_kind LIKE 'account:%'${kinds.length ? ` OR p.key_kind IN (${kinds.join(', ')})` : ''})`;
  const plain = `NOT ${isSha} AND NOT ${isAcct}`;
  const arms: Record<string, Array<[when: string, then: string]>> = {
    employee_id: [[`p.key_kind = 'employee_id'`, 'p.key_pseudonym'], [`p.emp_direct IS NOT NULL AND ${plain}`, 'p.emp_direct']],
    email: [[`e1.emp IS NOT NULL`, 'e1.emp'], [`e2.emp IS NOT NULL AND ${plain}`, 'e2.emp']],
    mbox_sha1sum: [[`${isSha} AND p.emp_direct IS NOT NULL`, 'p.emp_direct'], [`${isSha} AND e2.emp IS NOT NULL`, 'e2.emp']],
    account: [[`${isAcct} AND p.emp_direct IS NOT NULL`, 'p.emp_direct'], [`${isAcct} AND e2.emp IS NOT NULL`, 'e2.emp']],
  };
  const ordered = rules.flatMap((r) => (arms[r] ?? []).map(([when, then]) => ({ when, then, rule: r })));
  await engine.run(`DROP TABLE IF EXISTS __resolved`);
  await engine.run(`CREATE TEMPORARY TABLE __resolved AS
    WITH emp_by_email AS (
      SELECT email_pseudonym, min(employee_id_pseudonym) AS emp FROM identity_links
      WHERE email_pseudonym IS NOT NULL AND employee_id_pseudonym IS NOT NULL GROUP BY 1),
    per_key AS (
      SELECT m.key_kind, m.key_pseudonym, min(l.employee_id_pseudonym) AS emp_direct, min(l.email_pseudonym) AS email
      FROM identity_map m LEFT JOIN identity_links l ON l.key_kind = m.key_kind AND l.key_pseudonym = m.key_pseudonym
      GROUP BY 1, 2)
    SELECT p.key_kind, p.key_pseudonym,
      CASE ${ordered.map((a) => `WHEN ${a.when} THEN ${a.then}`).join(' ')}
           WHEN ${email} AND p.key_kind = 'email' THEN p.key_pseudonym
           WHEN ${email} AND p.email IS NOT NULL THEN p.email
           ELSE p.key_pseudonym END AS user_id,
      CASE ${ordered.map((a) => `WHEN ${a.when} THEN '${a.rule}'`).join(' ')}
           ELSE 'unmatched' END AS rule
    FROM per_key p
    LEFT JOIN emp_by_email e1 ON p.key_kind = 'email' AND e1.email_pseudonym = p.key_pseudonym
    LEFT JOIN emp_by_email e2 ON e2.email_pseudonym = p.email`);
  const changes = await engine.all<{ old_id: string; new_id: string }>(
    `SELECT DISTINCT m.user_id AS old_id, r.user_id AS new_id FROM identity_map m JOIN __resolved r USING (key_kind, key_pseudonym) WHERE m.user_id <> r.user_id ORDER BY 1, 2`,
  );
  // A person id that now splits into several is an identity conflict: rows keep the first in order.
  const byOld = new Map<string, string>();
  let splits = 0;
  for (const c of changes) {
    if (byOld.has(c.old_id)) splits++;
    else byOld.set(c.old_id, c.new_id);
  }
  if (byOld.size) {
    await engine.run(`DROP TABLE IF EXISTS __rekey`);
    await engine.run(engine.dialect.createTempTable('__rekey', [['old_id', 'varchar'], ['new_id', 'varchar']]));
    await engine.appendRows('__rekey', [...byOld]);
    for (const [table, col] of REKEY) {
      const key = ALL_TABLES.find((t) => t.name === table)!.key;
      for (const sql of engine.dialect.updateFrom(table, [[col, 'r.new_id']], '__rekey', 'r', [[col, 'old_id']], undefined, key)) await engine.run(sql);
    }
    // Older rows changed hands: derived tiles and features no longer match them, so the next run rebuilds.
    await engine.run(engine.dialect.deleteAll('tile_state'));
  }
  for (const sql of engine.dialect.updateFrom('identity_map', [['user_id', 'r.user_id'], ['rule', 'r.rule']], '__resolved', 'r', [['key_kind', 'key_kind'], ['key_pseudonym', 'key_pseudonym']], '(identity_map.user_id <> r.user_id OR identity_map.rule <> r.rule)')) {
    await engine.run(sql);
  }
  return { changed: byOld.size, splits };
}

export interface MatchRate {
  source: string;
  keys: number;
  matched: number;
  rate: number;
}

/** Per source: the share of distinct keys it presented that resolved to an HR-known person. */
export async function matchRates(engine: Engine): Promise<MatchRate[]> {
  const rows = await engine.all<{ source: string; keys: number; matched: number }>(
    `SELECT source, count(*) AS keys, count(*) FILTER (WHERE m.rule <> 'unmatched') AS matched
     FROM identity_map m${engine.dialect.unnestJoin('m.sources', 'source')} GROUP BY 1 ORDER BY 1`,
  );
  return rows.map((r) => ({ source: r.source, keys: Number(r.keys), matched: Number(r.matched), rate: Number(r.keys) ? Number(r.matched) / Number(r.keys) : 1 }));
}

export interface UnmatchedIdentity {
  source: string;
  key_kind: string;
  /** The key's pseudonym (never the raw identifier). */
  key_pseudonym: string;
}

/** Keys that no rule linked to an HR person, per source that presented them. */
export async function unmatchedIdentities(engine: Engine): Promise<UnmatchedIdentity[]> {
  const rows = await engine.all<{ source: string; key_kind: string; key_pseudonym: string }>(
    `SELECT source, m.key_kind, m.key_pseudonym FROM identity_map m${engine.dialect.unnestJoin('m.sources', 'source')} WHERE m.rule = 'unmatched' ORDER BY 1, 2, 3`,
  );
  return rows.map((r) => ({ source: r.source, key_kind: r.key_kind, key_pseudonym: r.key_pseudonym }));
}

/** Rebuilds users from the identity map and the latest HR record of each person. */
export async function rebuildUsers(engine: Engine): Promise<void> {
  const d = engine.dialect;
  const any = (rule: string) => d.boolOr(`rule = '${rule}'`);
  const latest = (c: string) => `${d.argMax(c, 'effective_from')} AS ${c}`;
  await engine.run(d.deleteAll('users'));
  await engine.run(`INSERT INTO users
    WITH ids AS (
      SELECT user_id, ${d.orderedList(`key_kind || ':' || key_pseudonym`, ['key_kind', 'key_pseudonym'])} AS source_ids,
        CASE WHEN ${any('employee_id')} THEN 'employee_id' WHEN ${any('email')} THEN 'email'
             WHEN ${any('mbox_sha1sum')} THEN 'mbox_sha1sum' WHEN ${any('account')} THEN 'account' ELSE 'unmatched' END AS match_rule
      FROM identity_map GROUP BY user_id),
    hr AS (
      SELECT user_id, ${latest('hire_date')}, ${latest('employment_status')},
        ${latest('role_level')}, ${latest('manager_id')}, ${latest('department')}
      FROM hr_records GROUP BY user_id)
    SELECT ids.user_id, ids.source_ids, ids.match_rule, hr.hire_date, hr.employment_status, hr.role_level, hr.manager_id, hr.department
    FROM ids LEFT JOIN hr USING (user_id) ORDER BY ids.user_id`);
}
