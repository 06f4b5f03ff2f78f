// `learnpipe generate`: a realistic synthetic LMS + HRIS export with the faults real exports have, and
// the ground truth of what was planted, so tests can check ingestion's reconciliation exactly.
//
// Layout (relative to the output folder; src/cli/demo-config.ts maps each file):
//   hris/employees.csv      HR history with PII columns, promotions and terminations
//   lms/users.csv           LMS accounts (most carry the employee id, some only a differently-cased email)
//   lms/log/YYYY-MM.csv     Moodle-style log, one file per month, epoch seconds
//   lms/enrolments.csv      enrolments with ISO-8601 UTC times
//   lms/quiz_attempts.csv   quiz attempts, epoch milliseconds
//   ilt/attendance.csv      classroom attendance in local time with an IANA zone per row (DST edge cases)
//   mobile/events.jsonl     the mobile app's events, ISO-8601 with offsets, content known by title only
//   ground_truth.json       what was planted, per file
//
// Same options, same bytes: everything is drawn from one seeded generator in a fixed order.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Random } from './random.js';
import { activityFactor, CERTIFICATION_COURSE, courseNameOn, DAY_MS, isoDate, makeCourses, makePeople, type Course, type Person } from './people.js';
import { classifyWallTime, formatWall, isoWithOffset, offsetMinutes, transitions } from './zones.js';

export interface GenerateOptions {
  out: string;
  users?: number;
  days?: number;
  seed?: number;
  /** First day of the period, YYYY-MM-DD (UTC). */
  start?: string;
  /** The lookback the ground truth assumes when it says which late rows are admitted (the demo's: 7). */
  lookbackDays?: number;
}

/** What one file holds, as ingestion should count it. */
export interface FileTruth {
  lines: number;
  accepted: number;
  exact_duplicates: number;
  conflicts: number;
  malformed: number;
  rejected: number;
  rejects_by_reason: Record<string, number>;
  /** Rows older than the source's watermark when the file arrives but inside the lookback (admitted). */
  late: number;
  /** Free-text values carrying an email address (to be redacted). */
  pii_in_free_text?: number;
  dst_gap: number;
  dst_overlap: number;
}

export interface GroundTruth {
  generator: string;
  options: { users: number; days: number; seed: number; start: string; end: string; lookback_days: number };
  /** Keyed by path relative to the output folder; log files load in name order. */
  files: Record<string, FileTruth>;
  identity: { lms_users: number; employees: number; contractors: number; people: number; by_rule: { employee_id: number; email: number; unmatched: number } };
  content: { renamed: { course_id: number; object_id: string; from: string; to: string; on: string } };
  signal: { decliners: number; outcomes: Record<string, number> };
  people: Array<{ lms_id: number; employee_id: string | null; decliner: boolean; outcome: string | null; outcome_date: string | null }>;
}

const GENERATOR = 'learnpipe-synthetic/1';

const EV = {
  login: '\\core\\event\\user_loggedin',
  courseViewed: '\\core\\event\\course_viewed',
  resource: '\\mod_resource\\event\\course_module_viewed',
  page: '\\mod_page\\event\\course_module_viewed',
  quizStart: '\\mod_quiz\\event\\attempt_started',
  quizSubmit: '\\mod_quiz\\event\\attempt_submitted',
  forumPost: '\\mod_forum\\event\\post_created',
  discussion: '\\mod_forum\\event\\discussion_viewed',
  completed: '\\core\\event\\course_completed',
  certPassed: '\\local_certification\\event\\certification_passed',
  certFailed: '\\local_certification\\event\\certification_failed',
  unknown: '\\core\\event\\mystery_happened',
};

interface LogEvent {
  id: number;
  t: number; // epoch seconds
  userid: number;
  eventname: string;
  courseid: number | null;
  cmid: number | null;
  name: string;
  duration: number | null;
  seq: number;
}

interface MobileEvent {
  t: number; // epoch ms
  lmsId: number;
  type: string;
  title: string;
  durationMs: number;
  zone: string;
}

interface QuizAttempt {
  userid: number;
  quiz: Course['quiz'];
  score: number;
  t: number; // epoch ms
}

function csvLine(values: Array<string | number | null>): string {
  return values.map((v) => (v === null ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replaceAll('"', '""')}"` : String(v))).join(',');
}

function writeAtomic(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

function emptyTruth(): FileTruth {
  return { lines: 0, accepted: 0, exact_duplicates: 0, conflicts: 0, malformed: 0, rejected: 0, rejects_by_reason: {}, late: 0, dst_gap: 0, dst_overlap: 0 };
}

function addReject(f: FileTruth, reason: string, n = 1): void {
  if (n <= 0) return;
  f.rejects_by_reason[reason] = (f.rejects_by_reason[reason] ?? 0) + n;
  f.rejected += n;
}

function finish(f: FileTruth): FileTruth {
  f.accepted = f.lines - f.rejected - f.exact_duplicates;
  f.rejects_by_reason = Object.fromEntries(Object.entries(f.rejects_by_reason).sort(([a], [b]) => a.localeCompare(b)));
  return f;
}

export async function generateDataset(options: GenerateOptions): Promise<GroundTruth> {
  const users = options.users ?? 500;
  const days = options.days ?? 120;
  const seed = options.seed ?? 42;
  const start = options.start ?? '2024-01-01';
  const lookbackDays = options.lookbackDays ?? 7;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(start) || Number.isNaN(Date.parse(`${start}T00:00:00Z`))) throw new Error(`--start must be a date YYYY-MM-DD, got ${start}`);
  if (!Number.isInteger(users) || users < 1) throw new Error(`--users must be a positive integer, got ${users}`);
  if (!Number.isInteger(days) || days < 7) throw new Error(`--days must be an integer of at least 7, got ${days}`);
  const startMs = Date.parse(`${start}T00:00:00Z`);
  const endMs = startMs + days * DAY_MS;
  const out = path.resolve(options.out);
  const rng = new Random(seed);
  const courses = makeCourses(days);
  const course = (id: number) => courses[id - 1];
  const people = makePeople(rng, users, days, startMs);
  const files: Record<string, FileTruth> = {};

  // ---- Activity -------------------------------------------------------------------------------
  let log: LogEvent[] = [];
  let mobile: MobileEvent[] = [];
  let quizzes: QuizAttempt[] = [];
  const completions = new Map<string, number>(); // `${lmsId}:${course}` → day
  let seq = 0;
  const push = (e: Omit<LogEvent, 'id' | 'seq'>) => log.push({ ...e, id: 0, seq: seq++ });
  const quizScore = (p: Person, pass: boolean | null) => {
    if (pass === true) return Math.round(rng.uniform(7, 10) * 10) / 10;
    if (pass === false) return Math.round(rng.uniform(2, 6.9) * 10) / 10;
    return Math.round(Math.min(10, Math.max(0, rng.uniform(4, 10) - (p.decliner ? 1.5 : 0))) * 10) / 10;
  };

  for (const p of people) {
    const noonOffset = (d: number) => offsetMinutes(p.zone, startMs + d * DAY_MS + 12 * 3_600_000);
    for (let d = 0; d < days; d++) {
      const dayMs = startMs + d * DAY_MS;
      const weekday = new Date(dayMs).getUTCDay();
      const weekend = weekday === 0 || weekday === 6 ? 0.25 : 1;
      const sessions = rng.poisson((p.baseRate * activityFactor(p, d) * weekend) / 4);
      const enrolled = p.enrolments.filter((e) => e.day <= d);
      for (let s = 0; s < sessions; s++) {
        // Local working hours in the person's zone, as UTC.
        let t = Math.floor((dayMs + rng.int(7 * 60, 21 * 60) * 60_000 - noonOffset(d) * 60_000) / 1000);
        push({ t, userid: p.lmsId, eventname: EV.login, courseid: null, cmid: null, name: '', duration: null });
        const n = enrolled.length ? rng.int(1, 6) : 0;
        for (let k = 0; k < n; k++) {
          t += rng.int(30, 720);
          const c = course(rng.pick(enrolled).course);
          const kind = rng.weighted([['course', 25], ['resource', 25], ['page', 20], ['discussion', 10], ['post', 5], ['quiz', 10]] as const);
          const module = rng.pick(c.modules);
          if (kind === 'course') {
            if (rng.chance(0.15)) mobile.push({ t: t * 1000, lmsId: p.lmsId, type: 'view', title: courseNameOn(c, d), durationMs: rng.int(5_000, 300_000), zone: p.zone });
            else push({ t, userid: p.lmsId, eventname: EV.courseViewed, courseid: c.id, cmid: c.id * 100, name: courseNameOn(c, d), duration: rng.int(5, 300) });
          } else if (kind === 'resource' || kind === 'page') {
            if (rng.chance(0.15)) mobile.push({ t: t * 1000, lmsId: p.lmsId, type: 'view', title: module.name, durationMs: rng.int(20_000, 900_000), zone: p.zone });
            else push({ t, userid: p.lmsId, eventname: kind === 'resource' ? EV.resource : EV.page, courseid: c.id, cmid: module.cmid, name: module.name, duration: rng.int(20, 900) });
          } else if (kind === 'discussion' || kind === 'post') {
            push({ t, userid: p.lmsId, eventname: kind === 'post' ? EV.forumPost : EV.discussion, courseid: c.id, cmid: c.id * 100 + 8, name: `${c.name} forum`, duration: rng.int(30, 600) });
          } else if (c.id !== CERTIFICATION_COURSE) {
            push({ t, userid: p.lmsId, eventname: EV.quizStart, courseid: c.id, cmid: c.quiz.cmid, name: c.quiz.name, duration: null });
            t += rng.int(120, 1200);
            push({ t, userid: p.lmsId, eventname: EV.quizSubmit, courseid: c.id, cmid: c.quiz.cmid, name: c.quiz.name, duration: rng.int(120, 1200) });
            quizzes.push({ userid: p.lmsId, quiz: c.quiz, score: quizScore(p, null), t: t * 1000 });
          }
        }
      }
      // The certification attempt on the outcome day.
      if (d === p.outcomeDay && (p.outcome === 'cert_pass' || p.outcome === 'cert_fail')) {
        const c = course(CERTIFICATION_COURSE);
        let t = Math.floor((dayMs + rng.int(10 * 60, 15 * 60) * 60_000 - noonOffset(d) * 60_000) / 1000);
        push({ t, userid: p.lmsId, eventname: EV.quizStart, courseid: c.id, cmid: c.quiz.cmid, name: c.quiz.name, duration: null });
        t += rng.int(1200, 3000);
        push({ t, userid: p.lmsId, eventname: EV.quizSubmit, courseid: c.id, cmid: c.quiz.cmid, name: c.quiz.name, duration: rng.int(1200, 3000) });
        quizzes.push({ userid: p.lmsId, quiz: c.quiz, score: quizScore(p, p.outcome === 'cert_pass'), t: t * 1000 });
        t += 60;
        push({ t, userid: p.lmsId, eventname: p.outcome === 'cert_pass' ? EV.certPassed : EV.certFailed, courseid: c.id, cmid: c.id * 100, name: c.name, duration: null });
        if (p.outcome === 'cert_pass') {
          push({ t: t + 1, userid: p.lmsId, eventname: EV.completed, courseid: c.id, cmid: c.id * 100, name: c.name, duration: null });
          completions.set(`${p.lmsId}:${c.id}`, d);
        }
      }
    }
    // Other courses: steady learners often complete them.
    for (const e of p.enrolments) {
      if (e.course === CERTIFICATION_COURSE || p.decliner || !rng.chance(0.5)) continue;
      const d = e.day + rng.int(10, 50);
      if (d >= days || (p.outcome === 'left' && p.outcomeDay !== null && d > p.outcomeDay)) continue;
      const c = course(e.course);
      const t = Math.floor((startMs + d * DAY_MS + rng.int(9 * 60, 17 * 60) * 60_000 - offsetMinutes(p.zone, startMs + d * DAY_MS) * 60_000) / 1000);
      push({ t, userid: p.lmsId, eventname: EV.completed, courseid: c.id, cmid: c.id * 100, name: courseNameOn(c, d), duration: null });
      completions.set(`${p.lmsId}:${c.id}`, d);
    }
  }

  // The period is [start, end) in UTC; sessions in far-east mornings or far-west evenings can fall outside.
  const inPeriod = (ms: number) => ms >= startMs && ms < endMs;
  log = log.filter((e) => inPeriod(e.t * 1000));
  mobile = mobile.filter((m) => inPeriod(m.t));
  quizzes = quizzes.filter((q) => inPeriod(q.t));

  // Moodle assigns log ids in time order.
  log.sort((a, b) => a.t - b.t || a.userid - b.userid || a.seq - b.seq);
  log.forEach((e, i) => (e.id = 1_000_001 + i));

  // ---- Moodle log, one file per month ------------------------------------------------------------
  writeLog(rng, out, log, files, lookbackDays);

  // ---- Mobile app (JSONL) ------------------------------------------------------------------------
  {
    mobile.sort((a, b) => a.t - b.t || a.lmsId - b.lmsId);
    const truth = emptyTruth();
    const lines: string[] = [];
    const record = (m: MobileEvent, uuid: string, over: Record<string, unknown> = {}) =>
      JSON.stringify({ event_uuid: uuid, user: { lms_id: String(m.lmsId) }, type: m.type, content_title: m.title, ts: isoWithOffset(m.zone, m.t), duration_ms: m.durationMs, ...over });
    const conflictAt = new Set(rng.sample(mobile.length, Math.min(3, mobile.length)));
    // Two learners typed a colleague's email into a note's title.
    const piiAt = new Set(rng.sample(mobile.length, Math.min(2, mobile.length)).filter((i) => !conflictAt.has(i)));
    truth.pii_in_free_text = piiAt.size;
    const bad = new Map<number, string>();
    for (const i of rng.sample(mobile.length, Math.min(4, mobile.length))) bad.set(i, ['malformed_json', 'malformed_json', 'bad_timestamp', 'missing_user'][bad.size]);
    mobile.forEach((m, i) => {
      const uuid = `${rng.hex(8)}-${rng.hex(4)}-4${rng.hex(3)}-a${rng.hex(3)}-${rng.hex(12)}`;
      if (piiAt.has(i)) m = { ...m, title: `Feedback call with ${people[(i * 7) % people.length].email}` };
      lines.push(record(m, uuid));
      // The app retries when it gets no acknowledgement: ~1% arrive twice.
      if (rng.chance(0.01) && !conflictAt.has(i)) {
        lines.push(record(m, uuid));
        truth.exact_duplicates++;
      }
      if (conflictAt.has(i)) {
        lines.push(record(m, uuid, { duration_ms: m.durationMs + 1000 }));
        truth.conflicts++;
        addReject(truth, 'conflicting_duplicate');
      }
      const reason = bad.get(i);
      if (reason) {
        const id = `bad-${i}`;
        if (reason === 'malformed_json') lines.push(`{"event_uuid": "${id}", "user": {"lms_id": "${m.lmsId}"}, "type": "view", "ts": "${isoWithOffset(m.zone, m.t)}"`);
        else if (reason === 'bad_timestamp') lines.push(record(m, id, { ts: 'yesterday afternoon' }));
        else lines.push(record(m, id, { user: {} }));
        addReject(truth, reason);
      }
    });
    truth.lines = lines.length;
    files['mobile/events.jsonl'] = finish(truth);
    writeAtomic(path.join(out, 'mobile/events.jsonl'), lines.join('\n') + '\n');
  }

  // ---- Classroom attendance (local time + zone per row) ------------------------------------------
  {
    const truth = emptyTruth();
    const sessions = [
      ['Fire Safety Drill', 'ILT-FIRE'],
      ['Leadership Workshop', 'ILT-LEAD'],
      ['First Aid Basics', 'ILT-AID'],
      ['Negotiation Lab', 'ILT-NEG'],
    ] as const;
    const rows: Array<{ email: string; title: string; code: string; wallMs: number; zone: string; minutes: number }> = [];
    const employees = people.filter((p) => !p.contractor);
    for (const p of employees) {
      const n = rng.int(0, 2);
      for (let k = 0; k < n; k++) {
        const d = rng.int(0, days - 1);
        if (activityFactor(p, d) === 0) continue;
        const [title, code] = rng.pick(sessions);
        rows.push({ email: rng.chance(0.2) ? p.email.toUpperCase() : p.email, title, code, wallMs: startMs + d * DAY_MS + rng.int(18, 32) * 1_800_000, zone: p.zone, minutes: rng.pick([60, 90, 120, 240]) });
      }
    }
    // Sessions held during each DST change in the period: in the gap (spring forward) or the overlap (fall back).
    const zones = [...new Set(people.map((p) => p.zone))].sort();
    for (const zone of zones) {
      for (const tr of transitions(zone, startMs, endMs)) {
        const lo = tr.atMs + Math.min(tr.before, tr.after) * 60_000;
        const wallMs = lo + (Math.abs(tr.after - tr.before) * 60_000) / 2;
        for (let k = 0; k < 2 && employees.length; k++) {
          const p = rng.pick(employees);
          rows.push({ email: p.email, title: 'Night Shift Safety Briefing', code: 'ILT-NIGHT', wallMs, zone, minutes: 60 });
        }
      }
    }
    rows.sort((a, b) => a.wallMs - b.wallMs || a.email.localeCompare(b.email));
    const lines = ['record_id,employee_email,session_title,course_code,start_local,timezone,duration_minutes'];
    rows.forEach((r, i) => {
      const kind = classifyWallTime(r.zone, r.wallMs);
      if (kind === 'gap') truth.dst_gap++;
      if (kind === 'overlap') truth.dst_overlap++;
      lines.push(csvLine([`ILT-${String(i + 1).padStart(6, '0')}`, r.email, r.title, r.code, formatWall(r.wallMs), r.zone, r.minutes]));
    });
    // A room booked on another planet: the zone is unknown.
    for (let k = 0; k < 2 && employees.length; k++) {
      const p = rng.pick(employees);
      lines.push(csvLine([`ILT-X${k + 1}`, p.email, 'Offsite Kickoff', 'ILT-OFF', formatWall(startMs + rng.int(0, days - 1) * DAY_MS + 9 * 3_600_000), 'Mars/Olympus_Mons', 120]));
      addReject(truth, 'unknown_time_zone');
    }
    truth.lines = lines.length - 1;
    files['ilt/attendance.csv'] = finish(truth);
    writeAtomic(path.join(out, 'ilt/attendance.csv'), lines.join('\n') + '\n');
  }

  // ---- Quiz attempts ------------------------------------------------------------------------------
  {
    const truth = emptyTruth();
    quizzes.sort((a, b) => a.t - b.t || a.userid - b.userid);
    const attemptNo = new Map<string, number>();
    const lines = ['attempt_id,userid,quiz_id,quiz_name,attempt,sumgrades,maxgrade,passed,timefinish_ms'];
    const dupAt = new Set(rng.sample(quizzes.length, Math.min(3, quizzes.length)));
    quizzes.forEach((q, i) => {
      const key = `${q.userid}:${q.quiz.id}`;
      const n = (attemptNo.get(key) ?? 0) + 1;
      attemptNo.set(key, n);
      const line = csvLine([500_001 + i, q.userid, q.quiz.id, q.quiz.name, n, q.score.toFixed(1), '10.0', q.score >= 7 ? 'yes' : 'no', q.t]);
      lines.push(line);
      if (dupAt.has(i)) {
        lines.push(line); // exported twice
        truth.exact_duplicates++;
      }
    });
    // Two attempts with more points than the quiz has (a regrade gone wrong).
    for (let k = 0; k < 2 && quizzes.length; k++) {
      const q = quizzes[rng.int(0, quizzes.length - 1)];
      lines.push(csvLine([900_001 + k, q.userid, q.quiz.id, q.quiz.name, 99, '12.5', '10.0', 'yes', q.t]));
      addReject(truth, 'score_out_of_range');
    }
    truth.lines = lines.length - 1;
    files['lms/quiz_attempts.csv'] = finish(truth);
    writeAtomic(path.join(out, 'lms/quiz_attempts.csv'), lines.join('\n') + '\n');
  }

  // ---- Enrolments ---------------------------------------------------------------------------------
  {
    const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
    const lines = ['userid,courseid,course_name,timeenrolled,timedue,timecompleted,status'];
    for (const p of people) {
      for (const e of p.enrolments) {
        const c = course(e.course);
        const enrolled = startMs + e.day * DAY_MS + 9 * 3_600_000;
        const done = completions.get(`${p.lmsId}:${c.id}`);
        const left = p.outcome === 'left';
        const status = done !== undefined ? 'completed' : left ? 'suspended' : 'in_progress';
        lines.push(csvLine([p.lmsId, c.id, courseNameOn(c, days), iso(enrolled), iso(enrolled + 60 * DAY_MS), done !== undefined ? iso(startMs + done * DAY_MS + 17 * 3_600_000) : null, status]));
      }
    }
    files['lms/enrolments.csv'] = finish({ ...emptyTruth(), lines: lines.length - 1 });
    writeAtomic(path.join(out, 'lms/enrolments.csv'), lines.join('\n') + '\n');
  }

  // ---- LMS users and HR history -------------------------------------------------------------------
  {
    const lines = ['id,username,email,firstname,lastname,idnumber,timezone'];
    for (const p of people) lines.push(csvLine([p.lmsId, `${p.first}.${p.last}${p.index + 1}`.toLowerCase(), p.lmsEmail, p.first, p.last, p.lmsHasIdnumber ? p.employeeId : null, p.zone]));
    files['lms/users.csv'] = finish({ ...emptyTruth(), lines: lines.length - 1 });
    writeAtomic(path.join(out, 'lms/users.csv'), lines.join('\n') + '\n');

    const hr = ['employee_id,email,first_name,last_name,phone,date_of_birth,department,role_level,manager_id,employment_status,effective_from,effective_to,hire_date,performance_rating,salary_band'];
    for (const p of people) {
      if (p.contractor || !p.employeeId) continue;
      const hireMs = Date.parse(`${p.hireDate}T00:00:00Z`);
      const periods: Array<{ from: number; status: string; level: number }> = [];
      const promoMs = p.promotionDay === null ? null : Math.max(hireMs + 30 * DAY_MS, startMs + p.promotionDay * DAY_MS);
      const leaveMs = p.outcome === 'left' && p.outcomeDay !== null ? startMs + (p.outcomeDay + 1) * DAY_MS : null;
      const promoted = promoMs !== null && (leaveMs === null || promoMs < leaveMs) && p.roleLevel > 1;
      periods.push({ from: hireMs, status: 'active', level: promoted ? p.roleLevel - 1 : p.roleLevel });
      if (promoted) periods.push({ from: promoMs!, status: 'active', level: p.roleLevel });
      if (leaveMs !== null) periods.push({ from: leaveMs, status: 'terminated', level: p.roleLevel });
      periods.forEach((period, i) => {
        const next = periods[i + 1];
        hr.push(csvLine([p.employeeId, p.email, p.first, p.last, p.phone, p.dateOfBirth, p.department, `L${period.level}`, p.managerId, period.status, isoDate(period.from), next ? isoDate(next.from) : null, p.hireDate, p.performance, p.salaryBand]));
      });
    }
    files['hris/employees.csv'] = finish({ ...emptyTruth(), lines: hr.length - 1 });
    writeAtomic(path.join(out, 'hris/employees.csv'), hr.join('\n') + '\n');
  }

  const employees = people.filter((p) => !p.contractor).length;
  const outcomes: Record<string, number> = {};
  for (const p of people) outcomes[p.outcome ?? 'none'] = (outcomes[p.outcome ?? 'none'] ?? 0) + 1;
  const renamed = courses.find((c) => c.renamedTo)!;
  const truth: GroundTruth = {
    generator: GENERATOR,
    options: { users, days, seed, start, end: isoDate(endMs), lookback_days: lookbackDays },
    files: Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b))),
    identity: {
      lms_users: people.length,
      employees,
      contractors: people.length - employees,
      people: people.length,
      by_rule: {
        employee_id: people.filter((p) => p.lmsHasIdnumber).length,
        email: people.filter((p) => !p.contractor && !p.lmsHasIdnumber).length,
        unmatched: people.filter((p) => p.contractor).length,
      },
    },
    content: { renamed: { course_id: renamed.id, object_id: `moodle_cm:${renamed.id * 100}`, from: renamed.name, to: renamed.renamedTo!, on: isoDate(startMs + renamed.renamedOnDay! * DAY_MS) } },
    signal: { decliners: people.filter((p) => p.decliner).length, outcomes: Object.fromEntries(Object.entries(outcomes).sort()) },
    people: people.map((p) => ({ lms_id: p.lmsId, employee_id: p.employeeId, decliner: p.decliner, outcome: p.outcome, outcome_date: p.outcomeDay === null ? null : isoDate(startMs + p.outcomeDay * DAY_MS) })),
  };
  writeAtomic(path.join(out, 'ground_truth.json'), JSON.stringify(truth, null, 2) + '\n');
  return truth;
}

type LineTag = 'ok' | 'moved' | 'duplicate' | 'conflict' | 'malformed_line' | 'missing_user' | 'bad_timestamp' | 'unknown_event_type' | 'negative_duration';
interface LogLine {
  text: string;
  tag: LineTag;
  t: number;
}

const LOG_HEADER = 'id,eventname,userid,courseid,contextinstanceid,object_name,timecreated,duration_seconds';

function logText(e: LogEvent, over: Partial<Record<'userid' | 'eventname' | 'timecreated' | 'duration', string>> = {}): string {
  return csvLine([e.id, over.eventname ?? e.eventname, over.userid ?? e.userid, e.courseid, e.cmid, e.name, over.timecreated ?? e.t, over.duration ?? e.duration]);
}

/**
 * Writes the monthly log files with planted faults and records, per file, what ingestion should count.
 * Late rows: a few events of a month's last days arrive in the next month's file (admitted by the
 * lookback) and a few from two to three weeks earlier (beyond it, rejected).
 */
function writeLog(rng: Random, out: string, log: LogEvent[], files: Record<string, FileTruth>, lookbackDays: number): void {
  const monthOf = (t: number) => new Date(t * 1000).toISOString().slice(0, 7);
  const months = [...new Set(log.map((e) => monthOf(e.t)))].sort();
  const byMonth = new Map<string, LogEvent[]>(months.map((m) => [m, []]));
  for (const e of log) byMonth.get(monthOf(e.t))!.push(e);
  const moved = new Map<string, LogEvent[]>(months.map((m) => [m, []]));
  for (let m = 0; m + 1 < months.length; m++) {
    const own = byMonth.get(months[m])!;
    const monthEnd = Date.parse(`${months[m + 1]}-01T00:00:00Z`) / 1000;
    const keep: LogEvent[] = [];
    const tooLate = new Set(rng.sample(own.length, 3).filter((i) => own[i].t >= monthEnd - 20 * 86400 && own[i].t < monthEnd - 12 * 86400));
    // Make sure some beyond-lookback rows exist: take the first three from the window if sampling missed.
    if (tooLate.size === 0) own.forEach((e, i) => tooLate.size < 3 && e.t >= monthEnd - 20 * 86400 && e.t < monthEnd - 12 * 86400 && tooLate.add(i));
    own.forEach((e, i) => {
      if (tooLate.has(i) || (e.t >= monthEnd - 5 * 86400 && rng.chance(0.015))) moved.get(months[m + 1])!.push(e);
      else keep.push(e);
    });
    byMonth.set(months[m], keep);
  }

  let badId = 9_000_001;
  let watermark: number | null = null;
  for (const month of months) {
    const arrivedLate = moved.get(month)!;
    const own = byMonth.get(month)!;
    const base: LogLine[] = [...arrivedLate.map((e) => ({ text: logText(e), tag: 'moved' as const, t: e.t })), ...own.map((e) => ({ text: logText(e), tag: 'ok' as const, t: e.t }))];
    const after = new Map<number, LogLine[]>();
    const insertAfter = (i: number, line: LogLine) => {
      const list = after.get(i) ?? [];
      list.push(line);
      after.set(i, list);
    };
    const firstOwn = arrivedLate.length;
    const ownCount = own.length;
    // ~1% exact duplicates and five conflicting repeats, a little after the original.
    const picks = rng.sample(ownCount, Math.round(ownCount * 0.01) + 5).map((i) => i + firstOwn);
    picks.forEach((i, k) => {
      const e = own[i - firstOwn];
      const at = Math.min(base.length - 1, i + rng.int(0, 200));
      if (k < 5) insertAfter(at, { text: logText(e, { duration: String((e.duration ?? 0) + 17) }), tag: 'conflict', t: e.t });
      else insertAfter(at, { text: base[i].text, tag: 'duplicate', t: e.t });
    });
    // Rows that cannot be normalised, two of each kind, and two malformed lines.
    const faults: LineTag[] = ['missing_user', 'missing_user', 'bad_timestamp', 'bad_timestamp', 'unknown_event_type', 'unknown_event_type', 'negative_duration', 'negative_duration', 'malformed_line', 'malformed_line'];
    for (const fault of faults) {
      const template = own[rng.int(0, ownCount - 1)] ?? arrivedLate[0];
      const e = { ...template, id: badId++, eventname: EV.courseViewed, duration: 30 };
      const text =
        fault === 'missing_user' ? logText(e, { userid: '' })
        : fault === 'bad_timestamp' ? logText(e, { timecreated: 'not-a-time' })
        : fault === 'unknown_event_type' ? logText(e, { eventname: EV.unknown })
        : fault === 'negative_duration' ? logText(e, { duration: '-5' })
        : `${e.id},${EV.courseViewed},${e.userid},${e.courseid ?? ''},${e.cmid ?? ''},"${e.name}, "unclosed,${e.t},30`;
      insertAfter(rng.int(0, base.length - 1), { text, tag: fault, t: e.t });
    }
    const lines: LogLine[] = [];
    base.forEach((l, i) => {
      lines.push(l);
      for (const x of after.get(i) ?? []) lines.push(x);
    });

    // What ingestion should see, file by file in name order (the watermark carries over).
    const truth = emptyTruth();
    truth.lines = lines.length;
    const cutoff = watermark === null ? null : watermark - lookbackDays * 86400;
    let newest: number | null = watermark;
    for (const l of lines) {
      if (l.tag === 'duplicate') truth.exact_duplicates++;
      else if (l.tag === 'conflict') {
        truth.conflicts++;
        addReject(truth, 'conflicting_duplicate');
      } else if (l.tag === 'malformed_line') {
        truth.malformed++;
        addReject(truth, 'malformed_line');
      } else if (l.tag !== 'ok' && l.tag !== 'moved') addReject(truth, l.tag);
      else if (cutoff !== null && l.t < cutoff) addReject(truth, 'late_beyond_lookback');
      else {
        if (watermark !== null && l.t < watermark) truth.late++;
        newest = newest === null ? l.t : Math.max(newest, l.t);
      }
    }
    watermark = newest;
    const rel = `lms/log/${month}.csv`;
    files[rel] = finish(truth);
    writeAtomic(path.join(out, rel), [LOG_HEADER, ...lines.map((l) => l.text)].join('\n') + '\n');
  }
}
