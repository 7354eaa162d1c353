/**
 * Validation of CronJob schedules in the five-field cron syntax Kubernetes accepts (plus its @-macros),
 * so that a malformed schedule fails `pulumi preview` with the field that is wrong.
 */

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
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
};

/** The set of values a (valid) field admits. */
function expand(field: Field, text: string): Set<number> {
    const out = new Set<number>();
    for (const part of text.split(",")) {
        const [range, step] = part.split("/");
        const every = step ? Number(step) : 1;
        let lo = field.min;
        let hi = field.max;
        if (range !== "*" && range !== "?") {
            const [a, b] = range.split("-");
            lo = value(field, a)!;
            hi = b === undefined ? (step ? field.max : lo) : value(field, b)!;
        }
        for (let v = lo; v <= hi; v += every) {
            out.add(field.name === "day of week" && v === 7 ? 0 : v);
        }
    }
    return out;
}

/**
 * The longest time between two consecutive runs of a (valid) schedule, in seconds, as cron runs it in UTC
 * (day of month and day of week both restricted means either may match). Used to alert when no backup has
 * succeeded for twice that long.
 */
export function schedulePeriodSeconds(schedule: string): number {
    const s = MACRO_SCHEDULES[schedule.trim()] ?? schedule.trim();
    const parts = s.split(/\s+/);
    const [minutes, hours, doms, months, dows] = parts.map((p, i) => expand(FIELDS[i], p));
    const domAny = parts[2] === "*" || parts[2] === "?";
    const dowAny = parts[4] === "*" || parts[4] === "?";
    const start = Date.UTC(2026, 0, 5); // a Monday; the window covers whole weeks, months and a year
    const runs: number[] = [];
    for (let days = 0; days < 366 + 7 && runs.length < 100_000; days++) {
        const d = new Date(start + days * 86_400_000);
        const domOk = doms.has(d.getUTCDate());
        const dowOk = dows.has(d.getUTCDay());
        const dayOk = domAny && dowAny ? true : domAny ? dowOk : dowAny ? domOk : domOk || dowOk;
        if (!dayOk || !months.has(d.getUTCMonth() + 1)) {
            continue;
        }
        for (const h of [...hours].sort((a, b) => a - b)) {
            for (const m of [...minutes].sort((a, b) => a - b)) {
                runs.push(start + days * 86_400_000 + h * 3_600_000 + m * 60_000);
            }
        }
        if (days >= 35 && runs.length >= 2 && domAny && parts[3] === "*") {
            break; // a weekly or finer pattern has shown its longest gap within five weeks
        }
    }
    let longest = 0;
    for (let i = 1; i < runs.length; i++) {
        longest = Math.max(longest, runs[i] - runs[i - 1]);
    }
    return runs.length < 2 ? 366 * 86_400 : longest / 1000;
}
