// Converts the raw OULAD CSVs (Kuzilek et al. 2017, CC BY 4.0) into CSVs learnpipe's file sources can
// map, in a work folder OUTSIDE the repository (default /tmp/learnpipe-oulad), and copies
// examples/oulad/pipeline.yaml next to them. The data itself is never copied into the repo.
//
//   npx tsx examples/oulad/prepare.ts [--data ../shared/data/oulad] [--work /tmp/learnpipe-oulad]
//
// OULAD dates are integer day offsets from each module presentation's start, and the dataset gives no
// calendar dates. ASSUMED START DATES: a presentation code YYYYB starts on 1 February YYYY and YYYYJ on
// 1 October YYYY (the letter is the start month, per the dataset paper). A day offset d becomes the
// timestamp start + d days at 12:00 UTC (mid-day, so "during day d" is unambiguous against learnpipe's
// midnight cutoffs: a cutoff k days into a presentation sees days 0 … k−1 and nothing of day k).
//
// What is written (csv/ under the work folder):
//   enrollments.csv    one row per registration (student × presentation):
//                        enrolled_at  = the presentation START (not the registration date; see below)
//                        due_at       = the presentation end (start + module_presentation_length)
//                        status       = final_result in lower case (pass, fail, withdrawn, distinction)
//                        completed_at = withdrawn: the unregistration day; otherwise the presentation end.
//                                       93 withdrawn registrations have no unregistration date: they get
//                                       the presentation end (withdrawal time unknown).
//   registrations.csv  enroll events at date_registration and unenroll events at date_unregistration
//                      (45 registrations without a registration date get no enroll event).
//   submissions.csv    one row per assessment submission (assessments AND submit events map it):
//                      score ('?' → empty), max_score 100, passed = score ≥ 40 (the OU pass mark),
//                      submitted_at = start + date_submitted; banked results are kept as submitted.
//   views.csv          one view event per clickstream row that exists (studentVle.csv when present, else
//                      studentVle_head.csv: its first 13,905 rows, module AAA 2013J only); sum_click is
//                      kept but not expanded.
//   presentations.csv  code, start date, length: what run.ts uses to turn cutoffs back into day offsets.
//
// Why enrolled_at is the presentation start: learnpipe's relative_to_enrollment spine places cutoffs
// k days after the enrolment day, and the OULAD task is "k days into the presentation". The real
// registration day is kept as an enroll event.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** ../shared/data/oulad next to the repository (LEARNPIPE_OULAD_DATA overrides). */
export const DEFAULT_DATA = process.env.LEARNPIPE_OULAD_DATA ?? path.resolve(HERE, '../../../shared/data/oulad');
export const DEFAULT_WORK = '/tmp/learnpipe-oulad';
export const REQUIRED_FILES = ['courses.csv', 'studentInfo.csv', 'studentRegistration.csv', 'assessments.csv', 'studentAssessment.csv'];
/** The clickstream: the full file when present, else the head shipped in ../shared (one of them is needed). */
export const CLICKSTREAM_FILES = ['studentVle.csv', 'studentVle_head.csv'];

export interface PrepareResult {
  work: string;
  config: string;
  rows: Record<string, number>;
}

const str = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** SQL for a presentation's assumed start date from its code (YYYYB → YYYY-02-01, YYYYJ → YYYY-10-01). */
export const START_SQL = (code: string) =>
  `make_timestamp(CAST(substr(${code}, 1, 4) AS INTEGER), CASE right(${code}, 1) WHEN 'B' THEN 2 WHEN 'J' THEN 10 END, 1, 0, 0, 0)`;

/** Day offset → ISO timestamp at 12:00 UTC of that day. */
const DAY = (start: string, offset: string) => `strftime(${start} + to_days(CAST(${offset} AS INTEGER)) + INTERVAL 12 HOUR, '%Y-%m-%dT%H:%M:%SZ')`;
const MIDNIGHT = (ts: string) => `strftime(${ts}, '%Y-%m-%dT%H:%M:%SZ')`;

export async function prepareOulad(opts: { data?: string; work?: string } = {}): Promise<PrepareResult> {
  const data = path.resolve(opts.data ?? DEFAULT_DATA);
  const work = path.resolve(opts.work ?? DEFAULT_WORK);
  const missing = REQUIRED_FILES.filter((f) => !existsSync(path.join(data, f)));
  const clicks = CLICKSTREAM_FILES.find((f) => existsSync(path.join(data, f)));
  if (!clicks) missing.push(CLICKSTREAM_FILES.join(' or '));
  if (missing.length) throw new Error(`OULAD files missing in ${data}: ${missing.join(', ')}`);
  const repo = path.resolve(HERE, '../..');
  if (work === repo || work.startsWith(repo + path.sep)) throw new Error(`the work folder must be outside the repository (got ${work})`);
  const csvDir = path.join(work, 'csv');
  mkdirSync(csvDir, { recursive: true });

  const inst = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await inst.connect();
  const rows: Record<string, number> = {};
  const read = (f: string) => `read_csv(${str(path.join(data, f))}, header = true, all_varchar = true, nullstr = ['', '?'])`;
  const copy = async (name: string, sql: string) => {
    const out = path.join(csvDir, name);
    await conn.run(`COPY (${sql}) TO ${str(out)} (FORMAT csv, HEADER true)`);
    const r = await conn.runAndReadAll(`SELECT count(*) AS n FROM read_csv(${str(out)}, header = true)`);
    rows[name] = Number(r.getRowObjectsJS()[0].n);
  };
  try {
    await conn.run(`SET TimeZone = 'UTC'`);
    await conn.run(`CREATE TABLE pres AS
      SELECT code_module || '_' || code_presentation AS presentation, code_module, code_presentation,
        ${START_SQL('code_presentation')} AS start_ts, CAST(module_presentation_length AS INTEGER) AS length
      FROM ${read('courses.csv')}`);
    await copy('presentations.csv', `SELECT presentation, code_module, code_presentation, strftime(start_ts, '%Y-%m-%d') AS start_date, length FROM pres ORDER BY presentation`);

    await copy('enrollments.csv', `
      SELECT i.id_student, p.presentation, p.code_module,
        ${MIDNIGHT('p.start_ts')} AS enrolled_at,
        ${DAY('p.start_ts', 'p.length')} AS due_at,
        CASE WHEN lower(i.final_result) = 'withdrawn' AND r.date_unregistration IS NOT NULL
             THEN ${DAY('p.start_ts', 'r.date_unregistration')}
             ELSE ${DAY('p.start_ts', 'p.length')} END AS completed_at,
        lower(i.final_result) AS status
      FROM ${read('studentInfo.csv')} i
      JOIN pres p USING (code_module, code_presentation)
      LEFT JOIN ${read('studentRegistration.csv')} r USING (code_module, code_presentation, id_student)
      ORDER BY p.presentation, CAST(i.id_student AS BIGINT)`);

    await copy('registrations.csv', `
      SELECT event_id, id_student, presentation, event_type, ts FROM (
        SELECT 'reg:' || p.presentation || ':' || r.id_student AS event_id, r.id_student, p.presentation, 'enroll' AS event_type,
          ${DAY('p.start_ts', 'r.date_registration')} AS ts, CAST(r.date_registration AS INTEGER) AS d
        FROM ${read('studentRegistration.csv')} r JOIN pres p USING (code_module, code_presentation) WHERE r.date_registration IS NOT NULL
        UNION ALL
        SELECT 'unreg:' || p.presentation || ':' || r.id_student, r.id_student, p.presentation, 'unenroll',
          ${DAY('p.start_ts', 'r.date_unregistration')}, CAST(r.date_unregistration AS INTEGER)
        FROM ${read('studentRegistration.csv')} r JOIN pres p USING (code_module, code_presentation) WHERE r.date_unregistration IS NOT NULL
      ) ORDER BY ts, event_id`);

    await copy('submissions.csv', `
      SELECT s.id_assessment || ':' || s.id_student AS submission_id, s.id_student, s.id_assessment,
        a.assessment_type || ' ' || s.id_assessment AS assessment_name, p.presentation,
        s.score, 100 AS max_score,
        CASE WHEN s.score IS NULL THEN NULL WHEN CAST(s.score AS DOUBLE) >= 40 THEN 'true' ELSE 'false' END AS passed,
        ${DAY('p.start_ts', 's.date_submitted')} AS submitted_at, s.is_banked
      FROM ${read('studentAssessment.csv')} s
      JOIN ${read('assessments.csv')} a USING (id_assessment)
      JOIN pres p USING (code_module, code_presentation)
      ORDER BY submitted_at, CAST(s.id_assessment AS BIGINT), CAST(s.id_student AS BIGINT)`);

    await copy('views.csv', `
      SELECT 'vle:' || row_number() OVER (ORDER BY v.code_module, v.code_presentation, CAST(v.id_student AS BIGINT), CAST(v.date AS INTEGER), CAST(v.id_site AS BIGINT), CAST(v.sum_click AS INTEGER)) AS event_id, v.id_student, v.id_site, p.presentation,
        ${DAY('p.start_ts', 'v.date')} AS ts, v.sum_click
      FROM ${read(clicks!)} v JOIN pres p USING (code_module, code_presentation)`);
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
  const config = path.join(work, 'pipeline.yaml');
  copyFileSync(path.join(HERE, 'pipeline.yaml'), config);
  return { work, config, rows };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  prepareOulad({ data: arg('--data'), work: arg('--work') })
    .then((r) => {
      console.log(`prepared ${r.work}`);
      for (const [f, n] of Object.entries(r.rows)) console.log(`  csv/${f}: ${n} rows`);
      console.log(`  config: ${r.config}`);
    })
    .catch((e) => {
      console.error(`error: ${(e as Error).message}`);
      process.exit(2);
    });
}
