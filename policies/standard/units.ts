/**
 * PostgreSQL's units of server settings (memory and time), written once: the policy pack compares a
 * postgresql.conf value with the standard's in them, and the live verifier compares pg_settings with the
 * rendered file in them. The grammar is PostgreSQL's own (guc.c `parse_int`/`convert_to_base_unit`: a number,
 * optional spaces, then a case-sensitive unit; memory units are powers of 1024). Kubernetes quantities
 * ("2Gi", "500m") are another grammar: ./quantity.ts.
 */
import { unquote } from "./settings";

/** Memory units, in bytes. */
export const MEMORY_UNITS: Readonly<Record<string, number>> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
/** Time units, in milliseconds. */
export const TIME_UNITS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * The unit PostgreSQL reads a bare number of each standard setting in (pg_settings.unit, PostgreSQL 15 and 16),
 * so that `log_min_duration_statement = 1s` and `1000` compare equal wherever they are compared.
 */
export const SETTING_UNITS: Readonly<Record<string, string>> = {
    shared_buffers: "8kB",
    effective_cache_size: "8kB",
    work_mem: "kB",
    maintenance_work_mem: "kB",
    wal_keep_size: "MB",
    log_min_duration_statement: "ms",
    checkpoint_timeout: "s",
};

export interface SettingQuantity {
    readonly kind: "memory" | "time";
    /** Bytes or milliseconds. */
    readonly base: number;
}

/** A unit written as pg_settings.unit writes it (`8kB`, `MB`, `ms`, `s`), as a multiple of a base unit. */
function unitOf(unit: string): SettingQuantity | undefined {
    const m = /^([0-9]*)([a-zA-Z]+)$/.exec(unit);
    if (!m) {
        return undefined;
    }
    const times = m[1] === "" ? 1 : Number(m[1]);
    if (m[2] in MEMORY_UNITS) {
        return { kind: "memory", base: times * MEMORY_UNITS[m[2]] };
    }
    return m[2] in TIME_UNITS ? { kind: "time", base: times * TIME_UNITS[m[2]] } : undefined;
}

/**
 * A setting's value in base units: `512MB` → 536870912 bytes, `10min` → 600000 ms; a bare number takes
 * `defaultUnit` (pg_settings.unit of the setting, e.g. `8kB` for shared_buffers). Undefined when the value is
 * not a quantity (a word, a list, a bare number without a unit).
 */
export function settingQuantity(value: string, defaultUnit?: string | null): SettingQuantity | undefined {
    const m = /^(-?[0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)$/.exec(unquote(value).trim());
    const unit = m && unitOf(m[2] || defaultUnit || "");
    return m && unit ? { kind: unit.kind, base: Number(m[1]) * unit.base } : undefined;
}

/**
 * Do two values of setting `name` mean the same: equal quantities of one kind (a bare number in the setting's
 * unit, SETTING_UNITS), or else the same text (quotes and case aside)?
 */
export function sameSetting(name: string, a: string, b: string, defaultUnit: string | null | undefined = SETTING_UNITS[name]): boolean {
    const x = settingQuantity(a, defaultUnit);
    const y = settingQuantity(b, defaultUnit);
    if (x !== undefined && y !== undefined) {
        return x.kind === y.kind && x.base === y.base;
    }
    return unquote(a).toLowerCase() === unquote(b).toLowerCase();
}
