/**
 * Validation of CronJob schedules in the five-field cron syntax Kubernetes accepts (plus its @-macros),
 * so that a malformed schedule fails `pulumi preview` with the field that is wrong.
 */

import { Cron } from "croner";

const MACROS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface Field {
    readonly name: string;
    readonly min: number;
    readonly max: number;
    readonly names?: readonly string[];
    readonly namesFrom?: number;
}

const FIELDS: readonly Field[] = [
    { name: "minute", min: 0, max: 59 },
    { name: "hour", min: 0, max: 23 },
    { name: "day of month", min: 1, max: 31 },
    { name: "month", min: 1, max: 12, names: MONTHS, namesFrom: 1 },
    { name: "day of week", min: 0, max: 7, names: DAYS, namesFrom: 0 },
];

function value(field: Field, text: string): number | undefined {
    if (/^[0-9]+$/.test(text)) {
        const n = Number(text);
        return n >= field.min && n <= field.max ? n : undefined;
    }
    const i = field.names?.indexOf(text.toLowerCase()) ?? -1;
    return i >= 0 ? i + (field.namesFrom ?? 0) : undefined;
}

function fieldProblem(field: Field, text: string): string | undefined {
    for (const part of text.split(",")) {
        const [range, step, extra] = part.split("/");
        if (extra !== undefined || (step !== undefined && !/^[1-9][0-9]*$/.test(step))) {
            return `${field.name} "${text}": a step must be a positive whole number`;
        }
        if (range === "*" || range === "?") {
            continue;
        }
        const [lo, hi, more] = range.split("-");
        const a = value(field, lo);
        const b = hi === undefined ? a : value(field, hi);
        if (more !== undefined || a === undefined || b === undefined) {
            return `${field.name} "${text}": values must be ${field.min}-${field.max}${field.names ? " or names" : ""}`;
        }
        if (b < a) {
            return `${field.name} "${text}": a range must go from low to high`;
        }
    }
    return undefined;
}

/** Why `schedule` is not a valid Kubernetes CronJob schedule, or undefined when it is. */
export function scheduleProblem(schedule: string): string | undefined {
    const s = schedule.trim();
    if (s.startsWith("@")) {
        return MACROS.includes(s) ? undefined : `unknown macro; use one of ${MACROS.join(", ")}`;
    }
    const parts = s.split(/\s+/);
    if (parts.length !== 5) {
        return `needs 5 fields (minute hour day-of-month month day-of-week), found ${parts.length}`;
    }
    for (let i = 0; i < 5; i++) {
        const problem = fieldProblem(FIELDS[i], parts[i]);
        if (problem !== undefined) {
            return problem;
        }
    }
    return undefined;
}

const MACRO_SCHEDULES: Record<string, string> = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
};

/** The window over which gaps are measured: two years and a week from a Monday, with a February 29th in it. */
const WINDOW_START = Date.UTC(2027, 0, 4);
const WINDOW_END = Date.UTC(2029, 0, 8);
const DAY_MS = 86_400_000;

/** Runs of a croner pattern in [from, to), in milliseconds (croner computes the calendar, in UTC). */
function runsBetween(pattern: string, from: number, to: number): number[] {
    // croner's default (domAndDow: false) is cron's rule: day of month and day of week both restricted means either matches.
    const cron = new Cron(pattern, { timezone: "UTC", paused: true });
    const runs: number[] = [];
    for (let next = cron.nextRun(new Date(from - 1)); next !== null && next.getTime() < to; next = cron.nextRun(next)) {
        runs.push(next.getTime());
    }
    return runs;
}

/**
 * The longest time between two consecutive runs of a (valid) schedule, in seconds, as cron runs it in UTC;
 * `Infinity` when it runs at most once in two years (`0 0 29 2 *` runs every 4 to 8 years, `0 0 30 2 *` never).
 *
 * A schedule is a set of days (day of month, month, day of week) times a set of times of day (minute, hour),
 * so the longest gap is the longer of the longest gap within a day and the longest gap across firing days
 * (from the last run on one firing day to the first run on the next). Enumerating days rather than runs
 * keeps an every-minute schedule as cheap as a yearly one.
 */
export function schedulePeriodSeconds(schedule: string): number {
    let period = periods.get(schedule);
    if (period === undefined) {
        period = longestGapSeconds(schedule);
        periods.set(schedule, period);
    }
    return period;
}

const periods = new Map<string, number>();

/** Days in each month at most (February in a leap year). */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Whether a day-of-month + month pair can never match (`30 2`, `31 4,6,9,11`) while day of week is
 * unrestricted. croner searches such a pattern year after year until its stack overflows, so it is decided here.
 */
function neverMatches(dom: string, month: string, dow: string): boolean {
    if (dom === "*" || dom === "?" || (dow !== "*" && dow !== "?")) {
        return false;
    }
    const smallestDay = Math.min(...expandField(FIELDS[2], dom));
    return [...expandField(FIELDS[3], month)].every((m) => smallestDay > MONTH_DAYS[m - 1]);
}

/** The values a (valid) field admits. */
function expandField(field: Field, text: string): Set<number> {
    const out = new Set<number>();
    for (const part of text.split(",")) {
        const [range, step] = part.split("/");
        let lo = field.min;
        let hi = field.max;
        if (range !== "*" && range !== "?") {
            const [a, b] = range.split("-");
            lo = value(field, a)!;
            hi = b === undefined ? (step ? field.max : lo) : value(field, b)!;
        }
        for (let v = lo; v <= hi; v += step ? Number(step) : 1) {
            out.add(v);
        }
    }
    return out;
}

function longestGapSeconds(schedule: string): number {
    const [minute, hour, dom, month, dow] = (MACRO_SCHEDULES[schedule.trim()] ?? schedule.trim()).split(/\s+/);
    if (neverMatches(dom, month, dow)) {
        return Infinity;
    }
    const days = runsBetween(`0 0 ${dom} ${month} ${dow}`, WINDOW_START, WINDOW_END);
    const times = runsBetween(`${minute} ${hour} * * *`, WINDOW_START, WINDOW_START + DAY_MS).map((t) => t - WINDOW_START);
    if (days.length < 2) {
        return Infinity;
    }
    let longest = 0;
    for (let i = 1; i < times.length; i++) {
        longest = Math.max(longest, times[i] - times[i - 1]);
    }
    const spanOfDay = times[times.length - 1] - times[0];
    for (let i = 1; i < days.length; i++) {
        longest = Math.max(longest, days[i] - days[i - 1] - spanOfDay);
    }
    return longest / 1000;
}

/** The longest gap a backup schedule may leave between two runs: a week (the standard runs every 6 hours). */
export const MAX_BACKUP_GAP_SECONDS = 7 * 86_400;
