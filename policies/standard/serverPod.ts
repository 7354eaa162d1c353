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
