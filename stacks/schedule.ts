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
