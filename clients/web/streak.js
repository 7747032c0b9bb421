// Habit streaks for the web client (optimistic display, offline logs).
//
// Mirrors dashboard.habit_streak / dashboard.streak_walk / dashboard.local_date in
// sql/functions/streaks.sql rule for rule; tests/test_streak_agreement.py runs both on
// thousands of random histories and asserts identical results, so change both or neither.
// Dependency-free ES module; also loads in node (>= 18).
//
// Rules: a unit is a local calendar day (daily) or local ISO week starting Monday (weekly).
// Per log_date the greatest logged_at wins, a tie goes to the best status
// (completed > skipped > missed), a missing logged_at loses to any instant. Logs dated after
// the local today are ignored; a week takes the best status of its days. Walking back from
// today: completed counts, skipped bridges, missed or no log ends the streak; no log today
// yet counts from the previous unit and marks the streak at risk when it is > 0.

const RANK = new Map([
  ['missed', 1],
  ['skipped', 2],
  ['completed', 3],
]);
const DAY_MS = 86_400_000;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const INSTANT_RE =
  /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;
// Same grammar as dashboard.local_date: Area/Location names only, digits only in the
// Etc/GMT zones that exist. Single-word names (CET, PST), POSIX strings and the
// posix/ and right/ trees mean different things to PostgreSQL and to Intl, so both sides
// treat them as UTC.
const ZONE_RE = /^([a-z]+(\/[a-z][a-z_-]*)+|etc\/gmt([+-]?0|[+-]([1-9]|1[0-2])|-1[34]))$/i;
const NOT_A_PLACE_RE = /^(posix|right)\//i;

const formatters = new Map();

function formatterFor(timezone) {
  const zone =
    typeof timezone === 'string' && ZONE_RE.test(timezone) && !NOT_A_PLACE_RE.test(timezone)
      ? timezone
      : 'UTC';
  let formatter = formatters.get(zone);
  if (formatter === undefined) {
    try {
      formatter = new Intl.DateTimeFormat('en-CA', {
        timeZone: zone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
      });
    } catch {
      // unknown zone: RangeError; PostgreSQL's "time zone not recognized" falls back the same
      formatter = formatterFor('UTC');
    }
    formatters.set(zone, formatter);
  }
  return formatter;
}

// 'YYYY-MM-DD' -> days since 1970-01-01, or null when it is not a real date.
function dayNumber(text) {
  const m = typeof text === 'string' ? DATE_RE.exec(text) : null;
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const d = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999
  d.setUTCFullYear(year, month - 1, day);
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) {
    return null;
  }
  return Math.round(d.getTime() / DAY_MS);
}

function mondayOf(day) {
  // day 0 (1970-01-01) was a Thursday, i.e. 3 days after a Monday
  return day - ((((day + 3) % 7) + 7) % 7);
}

// PostgreSQL rounds fractional seconds with rint() (half to even) on the same double.
function rint(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ISO 8601 instant -> microseconds since the epoch (exact below 2^53, i.e. until year 2255),
// or null. Microseconds, not Date's milliseconds, because PostgreSQL compares logged_at at
// microsecond precision and two logs a few microseconds apart must not tie here only.
// Without an offset the time is read as UTC (PostgreSQL would use the session TimeZone).
function parseInstant(text) {
  const m = INSTANT_RE.exec(text);
  if (m === null) return null;
  const day = dayNumber(m[1]);
  if (day === null) return null;
  const seconds =
    day * 86_400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + (m[4] ? Number(m[4]) : 0);
  const micros = m[5] ? rint(Number(`0.${m[5]}`) * 1e6) : 0;
  let offset = 0;
  if (m[7]) {
    offset = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 3600 + (m[9] ? Number(m[9]) : 0) * 60);
  }
  return (seconds - offset) * 1e6 + micros;
}

function instantMs(at) {
  if (at === null || at === undefined) return Date.now();
  if (at instanceof Date) return at.getTime();
  if (typeof at === 'number') return at;
  const micros = parseInstant(String(at));
  if (micros === null) throw new RangeError(`habitStreak: invalid instant ${String(at)}`);
  return Math.floor(micros / 1000);
}

/**
 * The local calendar date ('YYYY-MM-DD') of instant `at` (Date, epoch ms or ISO string; now
 * when null) in IANA zone `timezone`, UTC when the zone is null, empty, invalid or not an
 * Area/Location name. Same as dashboard.local_date.
 */
export function localDate(at, timezone) {
  let year = '';
  let month = '';
  let day = '';
  for (const part of formatterFor(timezone).formatToParts(instantMs(at))) {
    if (part.type === 'year') year = part.value;
    else if (part.type === 'month') month = part.value;
    else if (part.type === 'day') day = part.value;
  }
  return `${year.padStart(4, '0')}-${month}-${day}`;
}

// One pass over ascending unique units (day numbers) and their ranks; see dashboard.streak_walk.
function streakWalk(units, ranks, today, unitDays) {
  let prev = null;
  let run = 0;
  let best = 0;
  for (let i = 0; i < units.length; i += 1) {
    const unit = units[i];
    if (unit > today) break;
    if (prev === null || unit - prev !== unitDays) run = 0;
    if (ranks[i] === 3) {
      run += 1;
      if (run > best) best = run;
    } else if (ranks[i] !== 2) {
      run = 0;
    }
    prev = unit;
  }
  if (prev === today) {
    // run is already 0 when today was missed
    return { current_streak: run, longest_streak: best, at_risk: false };
  }
  if (prev !== null && prev === today - unitDays) {
    return { current_streak: run, longest_streak: best, at_risk: run > 0 };
  }
  return { current_streak: 0, longest_streak: best, at_risk: false };
}

/**
 * Streak of one habit as of `at`, same answer as dashboard.habit_streak.
 *
 * @param {Array<{log_date: string, status: string, logged_at: string}>|null} logs
 *   log_date 'YYYY-MM-DD' (local date), status 'completed' | 'skipped' | 'missed',
 *   logged_at an ISO 8601 instant with an offset. Entries with another status or an invalid
 *   log_date are ignored (PostgreSQL raises on the latter); an unparseable logged_at counts
 *   as missing (PostgreSQL raises).
 * @param {string} frequency 'weekly' for ISO weeks, anything else counts days
 * @param {string|null} timezone IANA zone of the student
 * @param {Date|number|string|null} at the instant to compute for (now when null)
 * @returns {{current_streak: number, longest_streak: number, at_risk: boolean}}
 */
export function habitStreak(logs, frequency, timezone, at) {
  const weekly = frequency === 'weekly';
  const today = dayNumber(localDate(at, timezone));

  // per log_date: greatest logged_at, then best status
  const byDay = new Map();
  for (const log of Array.isArray(logs) ? logs : []) {
    if (log === null || typeof log !== 'object') continue;
    const rank = RANK.get(log.status);
    if (rank === undefined) continue;
    const day = dayNumber(log.log_date);
    if (day === null || day > today) continue;
    const loggedAt =
      log.logged_at === null || log.logged_at === undefined
        ? null
        : parseInstant(String(log.logged_at));
    const time = loggedAt === null ? -Infinity : loggedAt;
    const seen = byDay.get(day);
    if (seen === undefined || time > seen.time || (time === seen.time && rank > seen.rank)) {
      byDay.set(day, { time, rank });
    }
  }

  // a week is as good as its best day
  const byUnit = new Map();
  for (const [day, { rank }] of byDay) {
    const unit = weekly ? mondayOf(day) : day;
    const seen = byUnit.get(unit);
    if (seen === undefined || rank > seen) byUnit.set(unit, rank);
  }

  const units = [...byUnit.keys()].sort((a, b) => a - b);
  return streakWalk(
    units,
    units.map((unit) => byUnit.get(unit)),
    weekly ? mondayOf(today) : today,
    weekly ? 7 : 1,
  );
}
