// The synthetic organisation: people (employees and a few contractors), their HR history, LMS
// accounts, courses, and the planted signal (who declines before failing a certification or leaving).
import type { Random } from './random.js';

export const DAY_MS = 86_400_000;

export const ZONES = ['America/New_York', 'America/Los_Angeles', 'Europe/London', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Sydney'] as const;
const FIRST = ['Anna', 'Ben', 'Chloe', 'David', 'Elena', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemi', 'Liam', 'Maya', 'Noah', 'Olga', 'Priya', 'Quinn', 'Rosa', 'Sven', 'Tara', 'Umar', 'Vera', 'Wei', 'Yara', 'Zoe'];
const LAST = ['Smith', 'Garcia', 'Müller', 'Okafor', 'Tanaka', 'Nguyen', 'Kowalski', 'Rossi', 'Silva', 'Patel', 'Johansson', 'Dubois', 'Cohen', 'Murphy', 'Novak', 'Haddad'];
const DEPARTMENTS = ['Sales', 'Engineering', 'Operations', 'Finance', 'Support', 'People'];

export interface Course {
  id: number;
  name: string;
  /** The name from `renamedOnDay` on (the LMS shows the new title; old events keep the old one). */
  renamedTo?: string;
  renamedOnDay?: number;
  modules: Array<{ cmid: number; name: string }>;
  quiz: { id: number; cmid: number; name: string };
}

export const CERTIFICATION_COURSE = 6;

export function makeCourses(days: number): Course[] {
  const names = ['Onboarding Essentials', 'Workplace Safety', 'Data Privacy 101', 'Leadership Foundations', 'Excel for Analysts', 'Compliance Certification'];
  return names.map((name, i) => {
    const id = i + 1;
    const c: Course = {
      id,
      name,
      modules: [1, 2, 3].map((k) => ({ cmid: id * 100 + k, name: `${name}: part ${k}` })),
      quiz: { id: id * 10 + 1, cmid: id * 100 + 9, name: id === CERTIFICATION_COURSE ? 'Compliance Certification Exam' : `${name} quiz` },
    };
    if (id === 3) {
      c.renamedTo = 'Data Protection Essentials';
      c.renamedOnDay = Math.min(60, Math.floor(days / 2));
    }
    return c;
  });
}

export function courseNameOn(c: Course, day: number): string {
  return c.renamedTo !== undefined && day >= (c.renamedOnDay ?? Infinity) ? c.renamedTo : c.name;
}

export type Outcome = 'cert_pass' | 'cert_fail' | 'left' | null;

export interface Person {
  index: number;
  lmsId: number;
  employeeId: string | null;
  contractor: boolean;
  first: string;
  last: string;
  /** The email HR holds (lower case); contractors have an LMS-only address. */
  email: string;
  /** The email as the LMS stores it (sometimes in other case or with stray spaces). */
  lmsEmail: string;
  /** The LMS carries the employee id (idnumber) for most employees; the rest match by email. */
  lmsHasIdnumber: boolean;
  zone: string;
  department: string;
  roleLevel: number;
  managerId: string | null;
  hireDate: string;
  /** A promotion during or before the period, as a day index (may be negative) or null. */
  promotionDay: number | null;
  performance: number;
  salaryBand: string;
  phone: string;
  dateOfBirth: string;
  /** Mean events per active weekday. */
  baseRate: number;
  decliner: boolean;
  outcome: Outcome;
  /** Day index of the outcome (certification attempt or last working day). */
  outcomeDay: number | null;
  /** Course ids the person is enrolled in, with the day index of enrolment. */
  enrolments: Array<{ course: number; day: number }>;
}

export function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function makePeople(rng: Random, n: number, days: number, startMs: number): Person[] {
  const people: Person[] = [];
  const managers: string[] = [];
  for (let i = 0; i < n; i++) {
    const contractor = i > 10 && rng.chance(0.03);
    const first = rng.pick(FIRST);
    const last = rng.pick(LAST);
    const local = `${first}.${last}`.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '') + (i + 1);
    const email = contractor ? `${local}@contractor.example.net` : `${local}@acme.example`;
    const messy = !contractor && rng.chance(0.1);
    const lmsEmail = messy ? rng.pick([` ${email.toUpperCase()} `, `${first}.${email.slice(first.length + 1)}`, ` ${email}`]) : email;
    const employeeId = contractor ? null : `E${String(1000 + i).padStart(5, '0')}`;
    const roleLevel = i < Math.max(2, Math.floor(n / 12)) ? rng.int(4, 5) : rng.int(1, 3);
    const managerId = employeeId && managers.length && roleLevel < 5 ? rng.pick(managers) : null;
    if (employeeId && roleLevel >= 4) managers.push(employeeId);

    const decliner = rng.chance(0.25);
    let outcome: Outcome;
    if (decliner) outcome = contractor || rng.chance(0.6) ? 'cert_fail' : 'left';
    else outcome = rng.weighted<Outcome>([['cert_pass', 60], ['cert_fail', 8], [contractor ? 'cert_pass' : 'left', 5], [null, 27]]);
    const lo = Math.floor(days * (decliner ? 0.45 : 0.3));
    const outcomeDay = outcome ? rng.int(lo, Math.max(lo, Math.floor(days * 0.95) - 1)) : null;

    const enrolments = [{ course: CERTIFICATION_COURSE, day: rng.int(0, Math.max(0, Math.floor(days / 4))) }];
    const others = rng.sample(5, rng.int(1, 3)).map((k) => k + 1);
    for (const c of others) enrolments.push({ course: c, day: rng.int(0, Math.max(0, Math.floor(days / 2))) });
    if (outcomeDay !== null) enrolments[0].day = Math.min(enrolments[0].day, outcomeDay);
    enrolments.sort((a, b) => a.course - b.course);

    people.push({
      index: i,
      lmsId: 101 + i,
      employeeId,
      contractor,
      first,
      last,
      email,
      lmsEmail,
      lmsHasIdnumber: !contractor && rng.chance(0.82),
      zone: rng.pick(ZONES),
      department: rng.pick(DEPARTMENTS),
      roleLevel,
      managerId,
      hireDate: isoDate(startMs - rng.int(30, 3000) * DAY_MS),
      promotionDay: !contractor && rng.chance(0.2) ? rng.int(-200, days - 1) : null,
      performance: decliner ? rng.weighted([[1, 3], [2, 4], [3, 4], [4, 2], [5, 1]]) : rng.weighted([[1, 1], [2, 2], [3, 5], [4, 4], [5, 2]]),
      salaryBand: `B${Math.min(6, roleLevel + rng.int(0, 1))}`,
      phone: `+1-555-${String(rng.int(0, 9999)).padStart(4, '0')}`,
      dateOfBirth: isoDate(Date.UTC(rng.int(1962, 2002), rng.int(0, 11), rng.int(1, 28))),
      baseRate: rng.uniform(2, 8),
      decliner,
      outcome,
      outcomeDay,
      enrolments,
    });
  }
  return people;
}

/**
 * Activity multiplier on day `d`: steady people stay near 1; decliners fade over the five weeks before
 * their outcome. Leavers stop at their last day; people who failed the certification carry on slowly.
 */
export function activityFactor(p: Person, d: number): number {
  if (p.outcome === 'left' && p.outcomeDay !== null && d > p.outcomeDay) return 0;
  if (!p.decliner || p.outcomeDay === null) return 1;
  const before = p.outcomeDay - d;
  if (before < 0) return 0.25;
  if (before >= 35) return 1;
  return Math.max(0.04, Math.pow(before / 35, 1.5));
}
