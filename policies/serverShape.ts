import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import { parsePgHba } from "./standard/pgHba";
import { parsePostgresqlConf } from "./standard/postgresqlConf";
import { hbaIncludeProblem, securitySettingProblems } from "./standard/securitySettings";
import {
    SERVER_CONFIG_FILES,
    SERVER_CONTAINER,
    SERVER_WORKLOAD_KIND,
    START_SCRIPT,
    serverArgs,
    startArgs,
    startCommand,
} from "./standard/serverPod";
import { Container, PodTemplate, T, WORKLOADS, k8s, k8sName, kindOf, known, list, ofType, plainStack, str } from "./lib";

/** The server's binary, however it is spelled on a command line. */
const SERVER_BINARY = /(^|\/)(postgres|postmaster)$/;

/** Containers (not init containers) of a pod that run a PostgreSQL server: PGDATA set, or the server binary first. */
function serverContainers(pod: PodTemplate | undefined): Container[] {
    return list<Container>(pod?.spec?.containers).filter(
        (c) =>
            list<{ name: string }>(c.env).some((e) => e.name === "PGDATA") ||
            [...list<string>(c.command), ...list<string>(c.args)].slice(0, 1).some((a) => SERVER_BINARY.test(str(a) ?? "")),
    );
}

/** Where a container mounts the ConfigMap that carries postgresql.conf (and its data), or undefined. */
function configDir(pod: PodTemplate | undefined, c: Container, configMaps: PolicyResource[]): string | undefined {
    return configMount(pod, c, configMaps)?.dir;
}

function configMount(
    pod: PodTemplate | undefined,
    c: Container,
    configMaps: PolicyResource[],
): { dir: string; data: Record<string, unknown> } | undefined {
    const carrying = new Map(
        configMaps
            .filter((cm) => str(k8s<IConfigMap>(cm).data?.[SERVER_CONFIG_FILES.config]) !== undefined)
            .map((cm) => [str(cm.props?.metadata?.name), (k8s<IConfigMap>(cm).data ?? {}) as Record<string, unknown>]),
    );
    const volume = list<{ name: string; configMap?: { name?: string } }>(pod?.spec?.volumes).find((v) =>
        carrying.has(str(v.configMap?.name)),
    );
    const dir = list<{ name: string; mountPath: string }>(c.volumeMounts).find((m) => m.name === volume?.name)?.mountPath;
    return dir === undefined || volume === undefined ? undefined : { dir, data: carrying.get(str(volume.configMap?.name))! };
}

/**
 * server-shape: the PostgreSQL server runs only as the program builds it: a StatefulSet (one replica, its own
 * volume) whose container is named `postgres`, runs the image's entrypoint (no `command`) with exactly the args
 * `postgres -c config_file=<dir>/postgresql.conf -c hba_file=<dir>/pg_hba.conf`, where <dir> is where the
 * rendered configuration ConfigMap is mounted (policies/standard/serverPod.ts). In a stack with standbys the one
 * other shape: `command` exactly `bash <dir>/replica-start.sh` (the start script that ConfigMap carries, which
 * execs its args) and `args` the image's `docker-entrypoint.sh` followed by those args. A server is any
 * container that sets PGDATA or runs `postgres`/`postmaster`, in any workload kind.
 *
 * Protects: pg_hba.conf and postgresql.conf are what the pack and the verifier check; a server started with
 * another file, another hba_file, or a `-c name=value` (which outranks the file) escapes every check, and a
 * Deployment or bare Pod can run two servers on one volume. Instead: change the stack's configuration; the
 * program renders both files.
 */
export const serverShape: StackValidationPolicy = {
    name: "server-shape",
    description:
        "The PostgreSQL server runs as a StatefulSet container named postgres with exactly the args that load the rendered postgresql.conf and pg_hba.conf (no command, no -c settings).",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const configMaps = ofType(args, T.configMap);
        for (const w of args.resources.filter((r) => r.type in WORKLOADS)) {
            const pod = WORKLOADS[w.type](w.props);
            const servers = serverContainers(pod);
            const where = `${kindOf(w.type)} "${k8sName(w)}"`;
            if (servers.length > 0 && kindOf(w.type) !== SERVER_WORKLOAD_KIND) {
                report(
                    `${where} runs a PostgreSQL server (container "${servers[0].name}"); the standard runs it only as the ${SERVER_WORKLOAD_KIND} the program builds, with its own volume.`,
                    w.urn,
                );
                continue;
            }
            if (servers.length > 1) {
                report(
                    `${where} runs ${servers.length} PostgreSQL servers (${servers.map((c) => `"${c.name}"`).join(", ")}); run one.`,
                    w.urn,
                );
            }
            for (const c of servers) {
                if (!known(c.args) || !known(c.command) || list(c.args).some((a) => !known(a))) {
                    continue;
                }
                const at = `${where} container "${c.name}"`;
                if (c.name !== SERVER_CONTAINER) {
                    report(
                        `${at} runs the server; name its container "${SERVER_CONTAINER}" (probes, tools and policies find it by that name).`,
                        w.urn,
                    );
                }
                const mount = configMount(pod, c, configMaps);
                const started =
                    mount !== undefined &&
                    typeof mount.data[START_SCRIPT] === "string" &&
                    JSON.stringify(list<string>(c.command).map(String)) === JSON.stringify(startCommand(mount.dir));
                if (list(c.command).length > 0 && !started) {
                    report(
                        `${at} replaces the image's entrypoint (command ${JSON.stringify(c.command)}); start the server with args only.`,
                        w.urn,
                    );
                }
                const dir = configDir(pod, c, configMaps);
                if (dir === undefined) {
                    report(
                        `${at} does not mount the rendered ${SERVER_CONFIG_FILES.config} (a ConfigMap that carries it); mount it and point the server at it.`,
                        w.urn,
                    );
                    continue;
                }
                const expected = started ? startArgs(dir) : serverArgs(dir);
                const actual = list<string>(c.args).map(String);
                if (JSON.stringify(actual) !== JSON.stringify(expected)) {
                    const settings = actual
                        .flatMap((a, i) =>
                            a === "-c" ? [actual[i + 1] ?? ""] : /^--[a-z_]+=/.test(a) ? [a.slice(2)] : /^-c.+/.test(a) ? [a.slice(2)] : [],
                        )
                        .filter((s) => !expected.includes(s))
                        .map((s) => s.split("=")[0]);
                    const why =
                        settings.length > 0 ? ` (sets ${settings.join(", ")} on the command line, outranking the rendered files)` : "";
                    report(
                        `${at} runs with args ${JSON.stringify(actual)}${why}; the server takes exactly ${JSON.stringify(expected)}.`,
                        w.urn,
                    );
                }
            }
        }
    },
};

/**
 * safe-server-settings: the rendered postgresql.conf neither weakens authentication nor loads code the standard
 * does not ship: password_encryption stays scram-sha-256; shared_preload_libraries holds only the standard's
 * (pg_stat_statements); session_preload_libraries and local_preload_libraries stay empty; dynamic_library_path
 * stays $libdir and jit_provider llvmjit; allow_system_table_mods stays off; no ssl_passphrase_command, no TLS
 * below 1.2, and no include directives (policies/standard/securitySettings.ts, each with its reason); pg_hba.conf
 * includes no other file. (trust, password and md5 lines in pg_hba.conf, and log_statement other than 'ddl',
 * are server-configuration's.)
 *
 * Protects: MD5 hashes replay like passwords; a preloaded or per-session library runs in every backend with
 * the server's rights; an included file is one the pack never sees. Instead: the stack's configuration.
 */
export const safeServerSettings: StackValidationPolicy = {
    name: "safe-server-settings",
    description:
        "postgresql.conf keeps SCRAM, preloads only the standard's libraries, loads no per-session code, keeps system catalogs and library paths closed, includes no file; pg_hba.conf includes none.",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        for (const cm of ofType(args, T.configMap)) {
            const conf = str(k8s<IConfigMap>(cm).data?.[SERVER_CONFIG_FILES.config]);
            if (conf !== undefined) {
                for (const p of securitySettingProblems(parsePostgresqlConf(conf))) {
                    report(`ConfigMap "${k8sName(cm)}" postgresql.conf sets ${p.name} = ${p.value}: it ${p.problem}.`, cm.urn);
                }
            }
            const hba = str(k8s<IConfigMap>(cm).data?.[SERVER_CONFIG_FILES.hba]);
            for (const rule of hba === undefined ? [] : parsePgHba(hba)) {
                const problem = hbaIncludeProblem(rule);
                if (problem !== undefined) {
                    const fields = rule.type.startsWith("include")
                        ? [rule.type, rule.database]
                        : [rule.type, rule.database, rule.user, rule.address, rule.method];
                    const line = fields.filter(Boolean).join(" ");
                    report(
                        `ConfigMap "${k8sName(cm)}" pg_hba.conf line "${line}" ${problem}; keep every rule in the rendered file.`,
                        cm.urn,
                    );
                }
            }
        }
    },
};
