import type { PolicyResource, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { parsePgHba } from "./standard/pgHba";
import { parsePostgresqlConf } from "./standard/postgresqlConf";
import { parseQuantity, formatBytes } from "./standard/quantity";
import { PRELOAD_LIBRARIES, REQUIRED_EXTENSIONS } from "./standard/rules";
import { MEMORY_DERIVED_SETTINGS, SEED_SETTINGS, megabytes, memorySettings, unquote } from "./standard/settings";
import { T, WORKLOADS, k8sName, known, list, ofType, pgName, plainStack, serverContainer, str } from "./lib";

/** ConfigMaps that carry a file, with the file's text. */
function configFiles(args: StackValidationArgs, file: string): { cm: PolicyResource; text: string }[] {
    return ofType(args, T.configMap)
        .filter((cm) => str(cm.props?.data?.[file]) !== undefined)
        .map((cm) => ({ cm, text: cm.props.data[file] as string }));
}

/**
 * required-extensions: every service database has vector, pg_trgm, uuid-ossp and pg_stat_statements,
 * template1 has them (for databases made by hand later), and postgresql.conf preloads pg_stat_statements
 * (STANDARD §2, defects 2 and 10).
 *
 * Protects: services that rely on vector search, fuzzy search, UUIDs and query statistics find them in every
 * database; without the preload, `CREATE EXTENSION pg_stat_statements` succeeds but every query of its view
 * fails. Instead: declare an Extension per required extension and database; preload the library.
 */
export const requiredExtensions: StackValidationPolicy = {
    name: "required-extensions",
    description: "Every service database (and template1) has vector, pg_trgm, uuid-ossp and pg_stat_statements; pg_stat_statements is preloaded.",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const present = new Map<string, Set<string>>();
        for (const e of ofType(args, T.extension)) {
            const db = String(e.props?.database ?? "");
            present.set(db, (present.get(db) ?? new Set()).add(pgName(e)));
        }
        const missing = (db: string) => REQUIRED_EXTENSIONS.filter((x) => !present.get(db)?.has(x));
        // A database whose name is not known yet (a preview) is checked when it is.
        const databases = ofType(args, T.database).filter((db) => known(pgName(db)));
        for (const db of databases) {
            const lacks = missing(pgName(db));
            if (lacks.length > 0) {
                report(`database "${pgName(db)}" lacks the extensions ${lacks.join(", ")}; every service database must have ${REQUIRED_EXTENSIONS.join(", ")}.`, db.urn);
            }
        }
        if (databases.length > 0 && missing("template1").length > 0) {
            report(`template1 lacks the extensions ${missing("template1").join(", ")}; a database created later by hand would not have them.`);
        }
        for (const { cm, text } of configFiles(args, "postgresql.conf")) {
            const preload = unquote(parsePostgresqlConf(text).get("shared_preload_libraries") ?? "").split(",").map((s) => s.trim());
            const lacks = PRELOAD_LIBRARIES.filter((l) => !preload.includes(l));
            if (lacks.length > 0) {
                report(`ConfigMap "${k8sName(cm)}" postgresql.conf does not preload ${lacks.join(", ")} (shared_preload_libraries); its view fails until it is preloaded.`, cm.urn);
            }
        }
    },
};

const PG_UNITS: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** A postgresql.conf memory value in bytes ("512MB", "1GB"), or undefined. */
function pgBytes(value: string): number | undefined {
    const m = /^([0-9]+)\s*(B|kB|MB|GB|TB)$/.exec(unquote(value));
    return m ? Number(m[1]) * PG_UNITS[m[2]] : undefined;
}

/** The memory limit of the PostgreSQL server that mounts a ConfigMap, in bytes. */
function memoryLimitOf(args: StackValidationArgs, cm: PolicyResource): number | undefined {
    for (const sts of ofType(args, T.statefulSet)) {
        const pod = WORKLOADS[T.statefulSet](sts.props);
        const mounts = list<{ configMap?: { name?: string } }>(pod?.spec?.volumes).some((v) => v.configMap?.name === cm.props?.metadata?.name);
        const limit = str(serverContainer(pod)?.resources?.limits?.memory);
        if (mounts && limit) {
            return parseQuantity(limit);
        }
    }
    return undefined;
}

/**
 * Does a pg_hba address admit more than a /8 of IPv4 (2^24 addresses)? `all` admits every address; an IPv6
 * range is too wide below /104 (the same number of addresses), so `::/0` is; a mask is counted in bits.
 */
export function tooWide(address: string): boolean {
    if (address === "all") {
        return true;
    }
    const [ip, mask] = address.split(/\s+|\//);
    if (mask === undefined) {
        return false;
    }
    const bits = mask.includes(".") ? mask.split(".").reduce((n, octet) => n + (Number(octet) >>> 0).toString(2).replace(/0/g, "").length, 0) : Number(mask);
    return ip.includes(":") ? bits < 104 : ip.includes(".") && bits < 8;
}

/**
 * server-configuration: postgresql.conf carries the standard's values (STANDARD §3), with the
 * memory-dependent ones derived from the server's memory limit as the program states them (shared_buffers
 * 1/4, effective_cache_size 3/4, maintenance_work_mem 1/4; the seed's values when no limit is found);
 * pg_hba.conf never trusts the network, authenticates with scram-sha-256, admits no address range wider than
 * a /8 (IPv6: a /104, as many addresses; `::/0` and `all` are far wider) and ends by rejecting everything else (STANDARD §4, defect 9).
 *
 * Protects: the sizing, logging and WAL settings every cluster is operated with, and the server's front
 * door. Instead: change the stack configuration; the program renders both files.
 */
export const serverConfiguration: StackValidationPolicy = {
    name: "server-configuration",
    description: "postgresql.conf carries the standard's settings (memory ones derived from the limit); pg_hba.conf uses SCRAM and ends in a reject-all line.",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        for (const { cm, text } of configFiles(args, "postgresql.conf")) {
            const conf = parsePostgresqlConf(text);
            const limit = memoryLimitOf(args, cm);
            const derived = limit === undefined ? undefined : memorySettings(limit);
            for (const [name, seed] of Object.entries(SEED_SETTINGS)) {
                const actual = conf.get(name);
                const derivedBytes = derived?.[name as (typeof MEMORY_DERIVED_SETTINGS)[number]];
                const expected = derivedBytes !== undefined ? megabytes(derivedBytes) : seed;
                const where = `ConfigMap "${k8sName(cm)}" postgresql.conf`;
                const why = derivedBytes !== undefined ? ` for the ${formatBytes(limit!)} memory limit` : " (the standard's value)";
                if (actual === undefined) {
                    report(`${where} lacks ${name}; expected ${expected}${why}.`, cm.urn);
                    continue;
                }
                const a = pgBytes(actual);
                const e = pgBytes(expected);
                const same = a !== undefined && e !== undefined ? a === e : unquote(actual).toLowerCase() === expected.toLowerCase();
                if (!same) {
                    report(`${where} sets ${name} = ${actual}; expected ${expected}${why}.`, cm.urn);
                }
            }
        }
        for (const { cm, text } of configFiles(args, "pg_hba.conf")) {
            const where = `ConfigMap "${k8sName(cm)}" pg_hba.conf`;
            const rules = parsePgHba(text);
            const line = (r: (typeof rules)[number]) => [r.type, r.database, r.user, r.address, r.method].filter(Boolean).join(" ");
            for (const r of rules) {
                if (r.type === "local") {
                    continue;
                }
                if (r.method === "trust") {
                    report(`${where} trusts network connections ("${line(r)}"); use scram-sha-256.`, cm.urn);
                } else if (r.method !== "scram-sha-256" && r.method !== "reject") {
                    report(`${where} authenticates with ${r.method} ("${line(r)}"); use scram-sha-256 (passwords are stored as SCRAM).`, cm.urn);
                }
                if (r.method !== "reject" && tooWide(r.address ?? "")) {
                    report(`${where} admits ${r.address} ("${line(r)}"); admit the pod network only.`, cm.urn);
                }
            }
            const last = rules[rules.length - 1];
            const rejectsAll = (r?: (typeof rules)[number]) => r !== undefined && r.method === "reject" && r.database === "all" && r.user === "all" && (r.address === "0.0.0.0/0" || r.address === "::/0");
            const tail = rules.slice(rules.findIndex((r) => rejectsAll(r)));
            if (!rejectsAll(last) || !tail.every(rejectsAll) || !rules.some((r) => rejectsAll(r) && r.address === "0.0.0.0/0")) {
                report(`${where} does not end by rejecting everything else; end it with "host all all 0.0.0.0/0 reject" (and "host all all ::/0 reject").`, cm.urn);
            }
        }
    },
};
