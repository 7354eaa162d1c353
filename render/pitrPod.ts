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
import { PRIVILEGED_PG_OPTIONS } from "./privilegedSession";
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

/**
 * Where the backup Jobs reach the servers' TLS servers: the primary through the role-selected Service (`postgres`,
 * headless: it resolves to whichever pod is labelled and Ready as the primary, so the backups follow a failover),
 * and, in a stack with standbys, the standbys through theirs (`postgres-ro`). Per-pod names
 * (`postgres-0.postgres.<ns>.svc`) would not follow: the cluster DNS serves a pod's name under a headless Service
 * only while that Service selects the pod, and `postgres` stops selecting `postgres-0` once it is relabelled standby.
 */
export interface BackupHosts {
    readonly primary: string;
    /** The standbys' Service: pg2, and the backup's files are copied from it (`backup-standby`). */
    readonly standby?: string;
}

/** The in-cluster names of the two Services (the namespace's `svc` domain). */
export function backupHosts(primaryService: string, readService: string | undefined, namespace: string): BackupHosts {
    return {
        primary: `${primaryService}.${namespace}.svc`,
        ...(readService !== undefined ? { standby: `${readService}.${namespace}.svc` } : {}),
    };
}

/**
 * The DNS names the servers' certificate carries (every server pod serves the same one, whatever its role): both
 * Services' names, short and with `cluster.local`, whether the stack has standbys or not, so adding a standby does
 * not change the certificate. pgBackRest's client checks the name it dialled (pgN-host) against them.
 */
export function serverTlsNames(primaryService: string, readService: string, namespace: string): string[] {
    const h = backupHosts(primaryService, readService, namespace);
    return [h.primary, `${h.primary}.cluster.local`, h.standby!, `${h.standby!}.cluster.local`];
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
 * with pg1 reached through the primary's Service's TLS server instead of a local PGDATA. With standbys, pg2 is the
 * standbys' Service and `backup-standby=y`: pgBackRest asks each host whether it is in recovery, runs the backup's
 * start and stop on the primary, and copies the files from the standby (pgBackRest 2.45 `help backup
 * backup-standby`). Every server has the same paths, so pg2's are pg1's.
 */
export function renderBackupJobConf(spec: PitrSpec, hosts: BackupHosts): string {
    const base = renderBackupPgbackrestConf(spec);
    if (!base.trimEnd().endsWith(`pg1-user=${spec.user}`)) {
        throw new Error("internal: render/pitr.ts's backup file no longer ends with its [db] section");
    }
    const tls = (n: number, host: string) => [
        `pg${n}-host=${host}`,
        `pg${n}-host-type=tls`,
        `pg${n}-host-port=${PGBACKREST_TLS_PORT}`,
        `pg${n}-host-cert-file=${tlsFile("cert")}`,
        `pg${n}-host-key-file=${tlsFile("key")}`,
        `pg${n}-host-ca-file=${tlsFile("ca")}`,
    ];
    const standby =
        hosts.standby === undefined
            ? []
            : [
                  `pg2-path=${spec.pgdata}`,
                  `pg2-socket-path=${spec.socketPath}`,
                  `pg2-port=${spec.port}`,
                  `pg2-user=${spec.user}`,
                  ...tls(2, hosts.standby),
                  "backup-standby=y",
              ];
    return base + [...tls(1, hosts.primary), ...standby, ""].join("\n");
}

/**
 * The sidecar's script: on a primary, create the stanza (idempotent; retried until the server and the bucket
 * answer), then serve. On a server in recovery (a standby) stanza-create can never succeed (pgBackRest's dbGet:
 * "unable to find primary cluster", error 056), so it serves at once: the stanza is the primary's sidecar's to
 * create, and a standby's TLS server is what a backup from the standby reads. Serving reloads a changed certificate
 * (tlsServerScript). Whether the server is in recovery is
 * asked through the local socket as pgBackRest itself connects (pg1-socket-path, pg1-port, pg1-user of the file).
 */
export function sidecarScript(): string {
    const pgbackrest = `pgbackrest --config=${PGBACKREST_CONF_PATH} --stanza=${PITR_STANZA}`;
    const option = (name: string) => `$(sed -n 's/^${name}=//p' ${PGBACKREST_CONF_PATH})`;
    return [
        "set -u",
        // stanza-create takes the lock an archive-push in progress holds (error 050) and needs the server up:
        // retried. Until the stanza exists archive_command fails and PostgreSQL keeps the segments (.ready).
        "while :; do",
        // As every privileged session's: names resolve in pg_catalog only (render/privilegedSession.ts).
        `    recovery=$(PGOPTIONS="${PRIVILEGED_PG_OPTIONS}" psql -XAtq -h "${option("pg1-socket-path")}" -p "${option("pg1-port")}" -U "${option("pg1-user")}" -d postgres -c 'SELECT pg_catalog.pg_is_in_recovery()' 2>/dev/null) || recovery=`,
        `    if [ "$recovery" = t ]; then echo "pgbackrest: the server is in recovery (a standby): no stanza-create here, serving"; break; fi`,
        `    if [ "$recovery" = f ] && ${pgbackrest} stanza-create; then break; fi`,
        "    sleep 10",
        "done",
        ...tlsServerScript(),
    ].join("\n");
}

/** Where the TLS server's script finds its files: the pod's paths (a test renders it with its own). */
export interface TlsServerPaths {
    /** pgbackrest.conf with the `[global:server]` section naming `keyDir`'s key and `tlsDir`'s CA and certificate. */
    readonly config: string;
    /** The mounted Secret (the kubelet swaps its files at once when the Secret changes). */
    readonly tlsDir: string;
    /** The sidecar's own copy of the key (pgBackRest refuses a key file readable by others). */
    readonly keyDir: string;
}
export const POD_TLS_SERVER_PATHS: TlsServerPaths = {
    config: PGBACKREST_CONF_PATH,
    tlsDir: PGBACKREST_TLS_DIR,
    keyDir: PGBACKREST_SERVER_KEY_DIR,
};
/** How often the sidecar compares the mounted TLS files with those its server loaded. */
export const TLS_RELOAD_POLL_SECONDS = 10;
/** What the sidecar logs when it makes the TLS server reload changed files. */
export const TLS_RELOAD_LOG = "pgbackrest: the TLS Secret's files changed: the TLS server reloads them (SIGHUP)";

/**
 * The end of the sidecar's script: the TLS server, made to serve a changed Secret (a renamed or rotated
 * certificate) without a restart of the pod. The TLS server reads its certificate, key and CA only at start and
 * on SIGHUP (pgBackRest 2.45 src/command/server/server.c: the handler sets a flag, the interrupted accept returns,
 * `cfgLoad` and `cmdServerInit` read the files again into a new TLS server; connections in progress keep the
 * old one); the kubelet updates a mounted Secret's files in place, so a shell loop next to the server compares
 * their checksum every TLS_RELOAD_POLL_SECONDS, copies the new key and sends SIGHUP — Crunchy PGO's way
 * (`reloadCommand`, internal/pgbackrest/config.go), in the same container: `exec` leaves the server with the
 * shell's pid (`$BASHPID` before the loop starts) and PID 1's SIGTERM handling. The checksum is taken before the key is copied, so
 * a change between the two is seen at the next turn. A reload that fails (files unreadable) ends the server, and
 * the kubelet restarts the container on the files of the moment; PostgreSQL keeps running either way.
 */
export function tlsServerScript(paths: TlsServerPaths = POD_TLS_SERVER_PATHS, pollSeconds = TLS_RELOAD_POLL_SECONDS): string[] {
    const file = (k: keyof typeof TLS_KEYS) => `${paths.tlsDir}/${TLS_KEYS[k]}`;
    const key = `${paths.keyDir}/${TLS_KEYS.key}`;
    return [
        `tls_sum() { cat ${file("ca")} ${file("cert")} ${file("key")} | sha256sum; }`,
        // The key, readable by the server's uid alone (pgBackRest checks), in the sidecar's own memory volume.
        `copy_key() { (umask 077 && cat ${file("key")} > ${key}.new && mv -f ${key}.new ${key}); }`,
        "loaded=$(tls_sum)",
        "copy_key || exit 1",
        // The shell's pid, which `exec` gives the server. Not `$$`: Kubernetes turns `$$` in a command into `$`.
        "server=$BASHPID",
        "(",
        `    while sleep ${pollSeconds}; do`,
        "        now=$(tls_sum)",
        `        if [ "$now" != "$loaded" ] && copy_key; then kill -HUP "$server"; echo "${TLS_RELOAD_LOG}"; loaded=$now; fi`,
        "    done",
        ") &",
        `exec pgbackrest --config=${paths.config} server`,
    ];
}

/**
 * The backup Job's script: the stanza (idempotent, retried past a concurrent archive-push's lock), then the backup.
 * From a standby (`backup-standby=y` and pg2 in its file: a stack with standbys), when the standbys' Service has no
 * address (no standby Ready: right after a failover, every standby down) the files are copied from the primary
 * instead, said in the log, with a copy of the file without pg2: pgBackRest 2.45 would otherwise spend two
 * `io-timeout`s (2 min) on the unresolvable pg2 in every command, then stop ("unable to find standby cluster -
 * cannot proceed", error 056; it has no `backup-standby=prefer`). A standby lost between the check and the backup
 * gives that error too: the same backup is then taken from the primary. A missed backup costs more than the
 * primary's read load.
 */
export function backupScript(type: "full" | "diff", fromStandby = false): string {
    const file = `${path.posix.dirname(PGBACKREST_CONF_PATH)}/${PGBACKREST_BACKUP_FILE}`;
    if (!fromStandby) {
        const pgbackrest = `pgbackrest --config=${file} --stanza=${PITR_STANZA}`;
        return [
            "set -eu",
            "n=0",
            `until ${pgbackrest} stanza-create; do n=$((n + 1)); [ "$n" -lt 6 ] || exit 1; sleep 10; done`,
            // pgBackRest expires by pitrRetentionDays after the backup succeeds, never after one that failed.
            `exec ${pgbackrest} --type=${type} backup`,
        ].join("\n");
    }
    const fromPrimary = "pitr-backup: no standby answered behind the standbys' Service: backing up from the primary";
    const primaryOnly = "/tmp/pgbackrest-primary.conf";
    return [
        "set -euo pipefail",
        `conf=${file}`,
        `standbys=$(sed -n 's/^pg2-host=//p' "$conf")`,
        'if ! getent hosts "$standbys" >/dev/null; then',
        `    echo "${fromPrimary} ($standbys has no address)"`,
        `    grep -v -e '^pg2-' -e '^backup-standby=' "$conf" > ${primaryOnly}`,
        `    conf=${primaryOnly}`,
        "fi",
        `pgbackrest="pgbackrest --config=$conf --stanza=${PITR_STANZA}"`,
        "n=0",
        'until $pgbackrest stanza-create; do n=$((n + 1)); [ "$n" -lt 6 ] || exit 1; sleep 10; done',
        "rc=0",
        `$pgbackrest --type=${type} backup 2>&1 | tee /tmp/backup.log || rc=\${PIPESTATUS[0]}`,
        'if [ "$rc" -eq 56 ] && grep -q "unable to find standby cluster" /tmp/backup.log; then',
        `    echo "${fromPrimary}"`,
        `    exec $pgbackrest --type=${type} --no-backup-standby backup`,
        "fi",
        'exit "$rc"',
    ].join("\n");
}
