/**
 * How the archive runs in the cluster (issue 23, docs/pitr.md "The pod shape"), as pure functions: Crunchy PGO's
 * shape fitted to one StatefulSet. The server container runs archive_command (render/pitr.ts's server file); a
 * sidecar in the same pod runs pgBackRest's TLS server on the same file plus a `[global:server]` section; the base
 * backup CronJobs are its clients (`pg1-host-type=tls`, mutual TLS, `tls-server-auth` admits the client
 * certificate's CN for the stanza only), reading PGDATA through the sidecar and writing the bucket themselves.
 *
 * pgBackRest 2.45's rules followed here (its `help` per option; run in test/pods/pitr.test.ts):
 * - options in a `[global:<command>]` section apply to that command only, so the server container's
 *   archive-push never sees the TLS server's options;
 * - the client verifies the server's certificate against `pg1-host` by DNS name (subjectAltName), and the
 *   server admits a client whose certificate's CN is listed in `tls-server-auth=<cn>=<stanza>`;
 * - the remote process the TLS server starts for a backup reads pg1-path/socket/port from its own file.
 */
import { PGBACKREST_CONF_PATH, PITR_STANZA, PitrSpec, renderBackupPgbackrestConf, renderServerPgbackrestConf } from "./pitr";
import * as path from "path";
import { PGBACKREST_TLS_PORT } from "../policies/standard/ports";

/** pgBackRest's TLS server port in the server pod (Crunchy PGO's, 8432; the pack admits it, policies/network.ts). */
export { PGBACKREST_TLS_PORT };
/** Where each side's certificate, key and the CA certificate are mounted (a Secret). */
export const PGBACKREST_TLS_DIR = "/etc/pgbackrest-tls";
/**
 * Where the sidecar keeps its own copy of the TLS server's key (a memory emptyDir of its own): pgBackRest refuses
 * a key file readable by others (0640 at most when root owns it), and a pod without fsGroup (an adopted volume)
 * can read a Secret's files only when they are world-readable (render/pods/pitr.ts tlsVolume).
 */
export const PGBACKREST_SERVER_KEY_DIR = "/etc/pgbackrest-key";
/** The ConfigMap keys: the server pod's file (server container and sidecar) and the backup Jobs'. */
export const PGBACKREST_SERVER_FILE = path.posix.basename(PGBACKREST_CONF_PATH);
export const PGBACKREST_BACKUP_FILE = "pgbackrest-backup.conf";
/** The CN of the backup Jobs' client certificate, the only one the TLS server admits. */
export const PGBACKREST_CLIENT_CN = "pgbackrest-backup";
/** The Secret keys of each side's TLS material (kubernetes.io/tls plus the CA). */
export const TLS_KEYS = { ca: "ca.crt", cert: "tls.crt", key: "tls.key" } as const;

const tlsFile = (k: keyof typeof TLS_KEYS) => `${PGBACKREST_TLS_DIR}/${TLS_KEYS[k]}`;

/** The DNS names of the server pod the backup Jobs connect to (its StatefulSet's pod 0, by its headless Service). */
export function serverPodHosts(statefulSet: string, service: string, namespace: string): string[] {
    const base = `${statefulSet}-0.${service}.${namespace}.svc`;
    return [base, `${base}.cluster.local`];
}

/**
 * The server pod's pgbackrest.conf: render/pitr.ts's server file (archive-push, archive-get, the local cluster)
 * plus the TLS server's options, read by `pgbackrest server` only.
 */
export function renderServerPodConf(spec: PitrSpec): string {
    return (
        renderServerPgbackrestConf(spec) +
        [
            "",
            "[global:server]",
            "tls-server-address=*",
            `tls-server-port=${PGBACKREST_TLS_PORT}`,
            `tls-server-cert-file=${tlsFile("cert")}`,
            `tls-server-key-file=${PGBACKREST_SERVER_KEY_DIR}/${TLS_KEYS.key}`,
            `tls-server-ca-file=${tlsFile("ca")}`,
            `tls-server-auth=${PGBACKREST_CLIENT_CN}=${PITR_STANZA}`,
            "",
        ].join("\n")
    );
}

/**
 * The backup Jobs' pgbackrest.conf: render/pitr.ts's backup file (the repository, retention, start-fast, delta)
 * with pg1 reached through the server pod's TLS server instead of a local PGDATA.
 */
export function renderBackupJobConf(spec: PitrSpec, host: string): string {
    const base = renderBackupPgbackrestConf(spec);
    if (!base.trimEnd().endsWith(`pg1-user=${spec.user}`)) {
        throw new Error("internal: render/pitr.ts's backup file no longer ends with its [db] section");
    }
    return (
        base +
        [
            `pg1-host=${host}`,
            "pg1-host-type=tls",
            `pg1-host-port=${PGBACKREST_TLS_PORT}`,
            `pg1-host-cert-file=${tlsFile("cert")}`,
            `pg1-host-key-file=${tlsFile("key")}`,
            `pg1-host-ca-file=${tlsFile("ca")}`,
            "",
        ].join("\n")
    );
}

/** The sidecar's script: create the stanza (idempotent; retried until the server and the bucket answer), then serve. */
export function sidecarScript(): string {
    const pgbackrest = `pgbackrest --config=${PGBACKREST_CONF_PATH} --stanza=${PITR_STANZA}`;
    return [
        "set -u",
        // The key, readable by the server's uid alone (pgBackRest checks), in the sidecar's own memory volume.
        `(umask 077 && cat ${tlsFile("key")} > ${PGBACKREST_SERVER_KEY_DIR}/${TLS_KEYS.key}) || exit 1`,
        // stanza-create takes the lock an archive-push in progress holds (error 050) and needs the server up:
        // retried. Until the stanza exists archive_command fails and PostgreSQL keeps the segments (.ready).
        `until ${pgbackrest} stanza-create; do sleep 10; done`,
        `exec pgbackrest --config=${PGBACKREST_CONF_PATH} server`,
    ].join("\n");
}

/** The backup Job's script: the stanza (idempotent, retried past a concurrent archive-push's lock), then the backup. */
export function backupScript(type: "full" | "diff"): string {
    const pgbackrest = `pgbackrest --config=${path.posix.dirname(PGBACKREST_CONF_PATH)}/${PGBACKREST_BACKUP_FILE} --stanza=${PITR_STANZA}`;
    return [
        "set -eu",
        "n=0",
        `until ${pgbackrest} stanza-create; do n=$((n + 1)); [ "$n" -lt 6 ] || exit 1; sleep 10; done`,
        // pgBackRest expires by pitrRetentionDays after the backup succeeds, never after one that failed.
        `exec ${pgbackrest} --type=${type} backup`,
    ].join("\n");
}
