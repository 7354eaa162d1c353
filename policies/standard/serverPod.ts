/**
 * The shape the PostgreSQL server runs in, written once: the program builds the server container with it
 * (components/postgresInstance.ts) and the policy pack refuses any other (policies/serverShape.ts). The server
 * reads exactly the rendered postgresql.conf and pg_hba.conf (STANDARD §3, §4); any other command line could
 * point it at other files or override a setting (`-c name=value` outranks the file). Imports nothing.
 */

/** The server container's name. */
export const SERVER_CONTAINER = "postgres";
/** The workload kind the server runs as (one replica, its own volume per pod, STANDARD §7). */
export const SERVER_WORKLOAD_KIND = "StatefulSet";
/** The files the server reads, in the directory its configuration ConfigMap is mounted at. */
export const SERVER_CONFIG_FILES = { config: "postgresql.conf", hba: "pg_hba.conf" } as const;

/**
 * The server container's args (the image's entrypoint runs them; no `command`): the server, told where its
 * two rendered files are, and nothing else.
 */
export function serverArgs(configDir: string): string[] {
    return [
        "postgres",
        "-c",
        `config_file=${configDir}/${SERVER_CONFIG_FILES.config}`,
        "-c",
        `hba_file=${configDir}/${SERVER_CONFIG_FILES.hba}`,
    ];
}

/**
 * In a stack with standbys every server pod starts through the start script (render/scripts/replica-start.sh,
 * carried by the same ConfigMap as the two files), which decides what the volume may become and then runs the
 * image's entrypoint with the same server args: `command` is exactly {@link startCommand}, `args` the image's
 * entrypoint followed by {@link serverArgs}. docs/standbys.md.
 */
export const START_SCRIPT = "replica-start.sh";
/** The official postgres image's entrypoint (its Dockerfile's ENTRYPOINT), which the start script execs. */
export const IMAGE_ENTRYPOINT = "docker-entrypoint.sh";

/** The server container's command in a stack with standbys: the start script from the configuration directory. */
export function startCommand(configDir: string): string[] {
    return ["bash", `${configDir}/${START_SCRIPT}`];
}

/** The server container's args in a stack with standbys: the image's entrypoint, then the server's args. */
export function startArgs(configDir: string): string[] {
    return [IMAGE_ENTRYPOINT, ...serverArgs(configDir)];
}
