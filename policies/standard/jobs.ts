/**
 * The server's own jobs, written once: the program names its backup and drill CronJobs and their credentials
 * Secret with these (components/backups.ts), and the policy pack recognises them by these names and by their
 * parent component (policies/credentials.ts); kube-state-metrics reports a CronJob's last success under its
 * name, which the alerts watch. Imports nothing.
 */

/** The backup CronJob. */
export const BACKUP_CRONJOB = "postgres-backup";
/** The restore drill's CronJob. */
export const DRILL_CRONJOB = "postgres-restore-drill";
/** The Secret holding the backup role's and the bucket's credentials, which only those two CronJobs read. */
export const BACKUP_CREDENTIALS_SECRET = `${BACKUP_CRONJOB}-credentials`;

/**
 * Point-in-time recovery's objects (docs/pitr.md): the base backup CronJobs (full and differential, one
 * identity), the pgbackrest.conf ConfigMap, the bucket keys the server pod and those CronJobs read, and each
 * side's TLS Secret (the server pod's sidecar, the CronJobs' client).
 */
export const PITR_OBJECTS = {
    fullCronJob: "postgres-pitr-full",
    diffCronJob: "postgres-pitr-diff",
    backupIdentity: "postgres-pitr-backup",
    config: "postgres-pgbackrest",
    credentials: "postgres-pitr-credentials",
    serverTls: "postgres-pgbackrest-server-tls",
    clientTls: "postgres-pgbackrest-client-tls",
    /** The restore step's script and the source repository's pgbackrest.conf (pitrBootstrapFrom). */
    bootstrap: "postgres-pitr-bootstrap",
} as const;
