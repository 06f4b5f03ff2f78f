// The pipeline.yaml the demo writes next to the generated data (see src/generate for the raw formats).
// It doubles as the fullest example of a file-source configuration.
/** The demo's modelling sections: weekly cutoffs from four weeks in, three labels, a training table. */
export function demoModelingConfig(o: { start: string; days: number }): string {
  const day = (n: number) => new Date(Date.parse(`${o.start}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
  return `
features:
  session_gap_minutes: 30       # a session ends after 30 minutes without activity
  # definitions: the built-in default set (see docs/features.md); list your own to choose.

spine:
  every: { days: 7, from: ${day(28)}, to: ${day(o.days)} }

labels:
  - name: cert_fail_30d
    description: failed the certification within 30 days of the cutoff
    kind: event_within
    event_type: fail
    window_days: 30
  - name: left_30d
    description: employment ended within 30 days of the cutoff
    kind: attrition
    window_days: 30
  - name: dropout_14d
    description: no activity at all in the 14 days after the cutoff
    kind: inactivity
    window_days: 14

training:
  label: cert_fail_30d
  split: { group_safe: true }   # later cutoffs are validation and test; each learner in one split only
  imbalance: { method: class_weight }
  csv: true
  evaluate: { enabled: true }   # a calibrated baseline on every run: evaluation.json, model.json, charts in report.html
`;
}

export const DEMO_CONFIG = `# learnpipe demo pipeline: maps the synthetic LMS + HRIS export in raw/ into the canonical schema.
version: 1
warehouse: warehouse.duckdb
output_dir: out

keys:
  # The pseudonym key: LEARNPIPE_PSEUDONYM_KEY wins; otherwise this key file (created by the demo).
  pseudonym: { env: LEARNPIPE_PSEUDONYM_KEY, file: keys/pseudonym.key }
  # The PII vault key (a different key): names, emails and phone numbers go to the encrypted vault.
  vault: { env: LEARNPIPE_VAULT_KEY, file: keys/vault.key }

privacy:
  vault: vault/pii.vault
  pii_action: redact            # emails or phone numbers typed into content titles are redacted

identity:
  match_by_email: true          # employee id first, then normalised email

content:
  aliases:
    # The mobile app knows courses by title only; this course was renamed mid-period.
    "Data Protection Essentials": "Data Privacy 101"

defaults:
  lookback_days: 7              # late events up to 7 days older than the watermark are admitted

sources:
  - name: hris
    format: csv
    path: raw/hris/employees.csv
    target: hr_records
    pii_columns: [first_name, last_name, phone, date_of_birth]
    fields:
      user: { column: employee_id, kind: employee_id }
      email: email
      effective_from: effective_from
      effective_to: effective_to
      employment_status: employment_status
      role_level: role_level
      manager: { column: manager_id, kind: employee_id }
      department: department
      hire_date: hire_date
      performance_rating: performance_rating
      salary_band: salary_band

  - name: lms_users
    format: csv
    path: raw/lms/users.csv
    target: users
    pii_columns: [username, firstname, lastname]
    fields:
      user: { column: id, kind: moodle_id }
      employee_id: idnumber
      email: email

  - name: moodle_log
    format: csv
    path: raw/lms/log/*.csv
    target: events
    fields:
      event_id: id
      user: { column: userid, kind: moodle_id }
      event_type:
        column: eventname
        map:
          '\\core\\event\\user_loggedin': login
          '\\core\\event\\course_viewed': view
          '\\mod_resource\\event\\course_module_viewed': view
          '\\mod_page\\event\\course_module_viewed': view
          '\\mod_quiz\\event\\attempt_started': quiz_start
          '\\mod_quiz\\event\\attempt_submitted': submit
          '\\mod_forum\\event\\post_created': forum_post
          '\\mod_forum\\event\\discussion_viewed': view
          '\\core\\event\\course_completed': complete
          '\\local_certification\\event\\certification_passed': pass
          '\\local_certification\\event\\certification_failed': fail
      object: { id_column: contextinstanceid, name_column: object_name, namespace: moodle_cm }
      course: { id_column: courseid, namespace: moodle_course }
      timestamp: { column: timecreated, format: epoch_s }
      duration_seconds: duration_seconds

  - name: classroom
    format: csv
    path: raw/ilt/attendance.csv
    target: events
    fields:
      event_id: record_id
      user: { column: employee_email, kind: email }
      event_type: { const: attend }
      object: { name_column: session_title, type: classroom_session }
      course: { id_column: course_code, namespace: ilt_course }
      timestamp: { column: start_local, format: local, timezone_column: timezone }
      duration_seconds: { column: duration_minutes, scale: 60 }

  - name: mobile
    format: jsonl
    path: raw/mobile/events.jsonl
    target: events
    free_text: [object_name]    # learners type titles in the app; personal data in them is redacted
    fields:
      event_id: event_uuid
      user: { column: user.lms_id, kind: moodle_id }
      event_type: type
      object: { name_column: content_title }
      timestamp: ts
      duration_seconds: { column: duration_ms, scale: 0.001 }

  - name: enrolments
    format: csv
    path: raw/lms/enrolments.csv
    target: enrollments
    fields:
      user: { column: userid, kind: moodle_id }
      course: { id_column: courseid, name_column: course_name, namespace: moodle_course }
      enrolled_at: timeenrolled
      due_at: timedue
      completed_at: timecompleted
      status: status

  - name: quiz_attempts
    format: csv
    path: raw/lms/quiz_attempts.csv
    target: assessments
    fields:
      assessment_id: attempt_id
      user: { column: userid, kind: moodle_id }
      object: { id_column: quiz_id, name_column: quiz_name, namespace: moodle_quiz }
      attempt: attempt
      score: sumgrades
      max_score: maxgrade
      passed: passed
      submitted_at: { column: timefinish_ms, format: epoch_ms }
`;
