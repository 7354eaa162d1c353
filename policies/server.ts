import type { PolicyResource, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IVolume } from "kubernetes-models/v1/Volume";
import { parsePgHba } from "./standard/pgHba";
import { parsePostgresqlConf } from "./standard/postgresqlConf";
import { parseQuantity, formatBytes } from "./standard/quantity";
import { PRELOAD_LIBRARIES, REQUIRED_EXTENSIONS } from "./standard/rules";
import { hbaAddressProblem } from "./standard/network";
import {
    CPU_DERIVED_SETTINGS,
    MEMORY_DERIVED_SETTINGS,
    cpuSettings,
    AT_LEAST_SETTINGS,
    SEED_SETTINGS,
    VECTOR_SETTING_RULES,
    megabytes,
    memorySettings,
    unquote,
    vectorSettingProblem,
} from "./standard/settings";
import { sameSetting } from "./standard/units";
import { T, WORKLOADS, k8s, k8sName, known, list, ofType, pgName, plainStack, serverContainer, str } from "./lib";

/** ConfigMaps that carry a file, with the file's text. */
function configFiles(args: StackValidationArgs, file: string): { cm: PolicyResource; text: string }[] {
    return ofType(args, T.configMap)
        .map((cm) => ({ cm, text: str(k8s<IConfigMap>(cm).data?.[file]) }))
        .filter((f): f is { cm: PolicyResource; text: string } => f.text !== undefined);
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
    description:
        "Every service database (and template1) has vector, pg_trgm, uuid-ossp and pg_stat_statements; pg_stat_statements is preloaded.",
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
                report(
                    `database "${pgName(db)}" lacks the extensions ${lacks.join(", ")}; every service database must have ${REQUIRED_EXTENSIONS.join(", ")}.`,
                    db.urn,
                );
            }
        }
        if (databases.length > 0 && missing("template1").length > 0) {
            report(
                `template1 lacks the extensions ${missing("template1").join(", ")}; a database created later by hand would not have them.`,
            );
        }
        for (const { cm, text } of configFiles(args, "postgresql.conf")) {
            const preload = unquote(parsePostgresqlConf(text).get("shared_preload_libraries") ?? "")
                .split(",")
                .map((s) => s.trim());
            const lacks = PRELOAD_LIBRARIES.filter((l) => !preload.includes(l));
            if (lacks.length > 0) {
                report(
                    `ConfigMap "${k8sName(cm)}" postgresql.conf does not preload ${lacks.join(", ")} (shared_preload_libraries); its view fails until it is preloaded.`,
                    cm.urn,
                );
            }
        }
    },
};

/** The memory (bytes) or CPU (cores) limit of the PostgreSQL server that mounts a ConfigMap. */
function resourceLimitOf(args: StackValidationArgs, cm: PolicyResource, resource: "memory" | "cpu"): number | undefined {
    for (const sts of ofType(args, T.statefulSet)) {
        const pod = WORKLOADS[T.statefulSet](sts.props);
        const mounts = list<IVolume>(pod?.spec?.volumes).some((v) => v.configMap?.name === k8s<IConfigMap>(cm).metadata?.name);
        const limit = str(serverContainer(pod)?.resources?.limits?.[resource]);
        if (mounts && limit) {
            return parseQuantity(limit);
        }
    }
    return undefined;
}

/**
 * server-configuration: postgresql.conf carries the standard's values (STANDARD §3), with the
 * memory-dependent ones derived from the server's memory limit as the program states them (shared_buffers
 * 1/4, effective_cache_size 3/4, maintenance_work_mem 1/2, autovacuum_work_mem 1/16 up to 1GB;
 * max_parallel_maintenance_workers the CPU limit's cores less one; the seed's values when no limit is found);
 * pg_hba.conf never trusts the network, authenticates with scram-sha-256, admits only networks inside private
 * address space (IPv4 or IPv6, the rule of policies/standard/network.ts that the config loader applies to
 * podNetworkCidrs: `0.0.0.0/0`, `::/0`, `all` are not) and ends by rejecting everything else (STANDARD §4, defect 9);
 * pgvector's query settings are present, valid for pgvector, and iterative scans are on (issue #16: without them HIP-29's
 * filtered semantic-cache query returns 1 row of 5).
 *
 * Protects: the sizing, logging and WAL settings every cluster is operated with, and the server's front
 * door. Instead: change the stack configuration; the program renders both files.
 */
export const serverConfiguration: StackValidationPolicy = {
    name: "server-configuration",
    description:
        "postgresql.conf carries the standard's settings (memory ones derived from the limit); pg_hba.conf uses SCRAM and ends in a reject-all line.",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        for (const { cm, text } of configFiles(args, "postgresql.conf")) {
            const conf = parsePostgresqlConf(text);
            const limit = resourceLimitOf(args, cm, "memory");
            const cores = resourceLimitOf(args, cm, "cpu");
            const derived: Record<string, number> | undefined = limit === undefined ? undefined : memorySettings(limit);
            const byCpu: Record<string, number> | undefined = cores === undefined ? undefined : cpuSettings(cores);
            // The standard's settings, and the derived ones it does not name (autovacuum_work_mem).
            const names: [string, string | undefined][] = [
                ...Object.entries(SEED_SETTINGS),
                ...MEMORY_DERIVED_SETTINGS.filter((n) => !(n in SEED_SETTINGS)).map((n): [string, undefined] => [n, undefined]),
            ];
            for (const [name, seed] of names) {
                const actual = conf.get(name);
                const derivedBytes = derived?.[name];
                const derivedCount = (CPU_DERIVED_SETTINGS as readonly string[]).includes(name) ? byCpu?.[name] : undefined;
                const expected =
                    derivedCount !== undefined ? String(derivedCount) : derivedBytes !== undefined ? megabytes(derivedBytes) : seed;
                if (expected === undefined) {
                    continue;
                }
                const where = `ConfigMap "${k8sName(cm)}" postgresql.conf`;
                const why =
                    derivedCount !== undefined
                        ? ` for the ${cores}-core CPU limit`
                        : derivedBytes !== undefined
                          ? ` for the ${formatBytes(limit!)} memory limit`
                          : " (the standard's value)";
                if (actual === undefined) {
                    report(`${where} lacks ${name}; expected ${expected}${why}.`, cm.urn);
                    continue;
                }
                const atLeast = AT_LEAST_SETTINGS.includes(name);
                if (atLeast ? !(Number(unquote(actual)) >= Number(expected)) : !sameSetting(name, actual, expected)) {
                    report(`${where} sets ${name} = ${actual}; expected ${atLeast ? "at least " : ""}${expected}${why}.`, cm.urn);
                }
            }
            // pgvector's query settings: the stack chooses the values, so the policy checks that they are there,
            // that pgvector accepts them (it replaces an invalid one by its default with only a WARNING) and that
            // filtered queries iterate.
            for (const { guc } of Object.values(VECTOR_SETTING_RULES)) {
                const actual = conf.get(guc);
                const where = `ConfigMap "${k8sName(cm)}" postgresql.conf`;
                const problem = actual === undefined ? undefined : vectorSettingProblem(guc, unquote(actual));
                if (actual === undefined) {
                    report(`${where} lacks ${guc}; render it from the stack (filtered vector queries depend on it).`, cm.urn);
                } else if (problem) {
                    report(`${where} sets ${guc} = ${actual}: ${problem}; pgvector would ignore it and use its default.`, cm.urn);
                } else if (guc.endsWith(".iterative_scan") && unquote(actual) === "off") {
                    report(
                        `${where} sets ${guc} = off: a filtered vector query (WHERE … ORDER BY distance LIMIT n) returns fewer than n rows; use strict_order (HNSW) or relaxed_order.`,
                        cm.urn,
                    );
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
                    report(
                        `${where} authenticates with ${r.method} ("${line(r)}"); use scram-sha-256 (passwords are stored as SCRAM).`,
                        cm.urn,
                    );
                }
                const network = r.method === "reject" ? undefined : hbaAddressProblem(r.address ?? "");
                if (network !== undefined) {
                    report(`${where} admits "${line(r)}": ${r.address} ${network}.`, cm.urn);
                }
            }
            const last = rules[rules.length - 1];
            const rejectsAll = (r?: (typeof rules)[number]) =>
                r !== undefined &&
                r.method === "reject" &&
                r.database === "all" &&
                r.user === "all" &&
                (r.address === "0.0.0.0/0" || r.address === "::/0");
            const tail = rules.slice(rules.findIndex((r) => rejectsAll(r)));
            if (!rejectsAll(last) || !tail.every(rejectsAll) || !rules.some((r) => rejectsAll(r) && r.address === "0.0.0.0/0")) {
                report(
                    `${where} does not end by rejecting everything else; end it with "host all all 0.0.0.0/0 reject" (and "host all all ::/0 reject").`,
                    cm.urn,
                );
            }
        }
    },
};
