/**
 * The zod helpers the configuration schema is written with (stacks/schema.ts, stacks/serviceFields.ts): a rule of
 * policies/standard as a check with its message, strings, numbers and flags with their messages, Kubernetes
 * quantities, URLs, images, schedules, pgvector settings, and the registry of each key's description.
 */
import { z } from "zod";
import { parseQuantity } from "../policies/standard/quantity";
import { imageProblem } from "../policies/standard/rules";
import { SEED_SETTINGS, VECTOR_SETTING_RULES, VectorSettings, vectorSettingProblem } from "../policies/standard/settings";
import { scheduleProblem, schedulePeriodSeconds } from "./schedule";

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Bounds past which a value is a typo, not a plan: more than any node offers, or than the volume service allows. */
export const MAX_MEMORY_BYTES = 2 ** 40;
export const MAX_CPUS = 256;
export const MAX_STORAGE_BYTES = 16 * 2 ** 40;
export const MAX_RETENTION_DAYS = 36_500;
export const MAX_CONNECTIONS = Number(SEED_SETTINGS.max_connections);
export const SSLMODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;

/** What the schema says about a key besides its type: its description and whether its value is a secret. */
export interface KeyMeta {
    readonly description: string;
    readonly secret?: boolean;
}
/** Each key's description and secret-ness (descriptions also go into the JSON Schema). */
export const KEY_META = z.registry<KeyMeta>();

/** A rule from policies/standard (why a value is wrong, or undefined) as a zod check with that message. */
export function rule<T>(problem: (value: T) => string | undefined) {
    return (value: T, ctx: z.RefinementCtx<T>) => {
        const why = problem(value);
        if (why !== undefined) {
            ctx.addIssue({ code: "custom", message: why, input: value });
        }
    };
}
export const pattern = (re: RegExp, message: string, max = Infinity) =>
    rule((v: string) => (re.test(v) && v.length <= max ? undefined : message));

export const text = (error = "must be a string") => z.string({ error });
export const whole = () => z.int({ error: "must be a whole number" });
export const flag = () => z.boolean({ error: "must be true or false" });
export const stringList = () => z.array(z.string(), { error: "must be a list of strings" });

/** A Kubernetes quantity string (`2Gi`, `500m`), bounded in its own unit (bytes or cores). */
export function quantity(kind: "bytes" | "cpu", bounds: { min?: [number, string]; max?: [number, string] } = {}) {
    const example = kind === "bytes" ? '"2Gi" or "512Mi"' : '"500m" or "2"';
    return text().superRefine((v, ctx) => {
        const n = parseQuantity(v);
        const fail = (message: string) => ctx.addIssue({ code: "custom", message, input: v });
        if (n === undefined || n <= 0) {
            fail(`must be a Kubernetes quantity, e.g. ${example}`);
        } else if (bounds.min && n < bounds.min[0]) {
            fail(bounds.min[1]);
        } else if (bounds.max && n > bounds.max[0]) {
            fail(bounds.max[1]);
        }
    });
}

/**
 * Why `value` is not a plain http(s) URL (no credentials, query or fragment; a path only where `path`), or
 * undefined. Such values are written into URLs and resources as they are, so nothing may ride along.
 */
export function httpUrlProblem(value: string, path: boolean): string | undefined {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        return "not a URL";
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
        return "the scheme must be http or https";
    }
    if (url.username || url.password || value.includes("@")) {
        return "no credentials in the URL";
    }
    if (url.search || url.hash || /[?#]/.test(value)) {
        return "no query or fragment";
    }
    if (!path && url.pathname !== "/") {
        return "no path";
    }
    return /\s/.test(value) ? "no spaces" : undefined;
}
export const httpUrl = (path: boolean, example: string) =>
    text().superRefine(
        rule((v: string) => {
            const why = httpUrlProblem(v, path);
            return why && `must be an http(s) URL ${example} (${why})`;
        }),
    );

export const image = () => text().superRefine(rule(imageProblem));
/** A CronJob schedule of `runs` that runs at least every `maxGap` seconds (`why` says why). */
export const cron = (maxGap: number, runs: string, why: string) =>
    text()
        .superRefine(rule((v: string) => scheduleProblem(v) && `is not a cron schedule: ${scheduleProblem(v)}`))
        .superRefine(
            rule((v: string) => {
                const gap = scheduleProblem(v) === undefined ? schedulePeriodSeconds(v) : 0;
                return gap <= maxGap
                    ? undefined
                    : `${gap === Infinity ? "runs at most once in two years (or never)" : `leaves up to ${gap / 3600}h between ${runs}`}; ${why}`;
            }),
        );
/** A restore drill at least monthly: its staleness alert waits one period, and a drill that never runs proves nothing. */
export const MAX_DRILL_GAP_SECONDS = 31 * 86_400;
export const vector = (key: keyof VectorSettings) => {
    const { guc, values } = VECTOR_SETTING_RULES[key];
    return rule((v: string | number) => {
        const why = vectorSettingProblem(guc, String(v));
        if (why) {
            return `${guc} ${why} (pgvector would ignore it with only a WARNING and use its default)`;
        }
        return v === "off"
            ? `${guc} off makes filtered vector queries (WHERE … ORDER BY distance LIMIT n) return fewer than n rows; use ${values?.slice(1).join(" or ")} (a session may still SET it off)`
            : undefined;
    });
};
/** An integer key within [min, max], one message for both bounds. */
export const between = (min: number, max: number, message: string) => whole().min(min, message).max(max, message);

/** Registers a key's description (and secret-ness) and returns its schema. */
export function key<S extends z.ZodType>(schema: S, description: string, secret?: true): S {
    KEY_META.add(schema, secret ? { description, secret } : { description });
    return schema;
}
