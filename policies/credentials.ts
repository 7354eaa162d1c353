import type { StackValidationPolicy } from "@pulumi/policy";
import { BACKUP_CREDENTIALS_SECRET, BACKUP_CRONJOB, DRILL_CRONJOB, PITR_OBJECTS } from "./standard/jobs";
import { BACKUP_ROLE } from "./standard/rules";
import { PGPASS_KEY } from "./standard/replication";
import { T, WORKLOADS, builtBy, k8sName, kindOf, ofType, plainStack, postgresServers, secretReads, str } from "./lib";

/**
 * credentials-confined: the administrator's Secret (`postgres-credentials`, the one the server reads
 * POSTGRES_PASSWORD from) is read only by the program's server StatefulSets (the primary's and the standbys'),
 * through env, or a volume of its `pgpass` key alone (a stack with standbys: pg_rewind's line), and the backup role's Secret
 * (`postgres-backup-credentials`, or any Secret that logs in as `hanzo_backup`) only by the program's backup
 * and drill CronJobs, however a pod reads it: env, envFrom, a secret volume or a projected volume. The
 * program's workloads are recognised as the program builds them: by kind, name and parent component
 * (PostgresInstance, PostgresBackups), so a hand-added Deployment, CronJob or Pod — or a StatefulSet that runs
 * a server of its own — is caught whatever it is called. The archive's Secrets (PostgresArchive's, docs/pitr.md)
 * likewise: its bucket key only by the server StatefulSet and the base backup CronJobs, the TLS server's key only
 * by the server StatefulSet, the client's only by those CronJobs. (A non-server container reading the admin Secret
 * through env or envFrom is no-superuser-credentials'.)
 *
 * Protects: the superuser's password opens every database; the backup role's reads every table and its
 * bucket keys hold every dump. Instead: a workload connects with its own service role's Secret.
 */
export const credentialsConfined: StackValidationPolicy = {
    name: "credentials-confined",
    description:
        "Only the program's server StatefulSet reads the administrator's Secret, and only its backup and drill CronJobs read the backup role's Secret (env, envFrom or volumes).",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const admin = new Set<string>();
        for (const h of ofType(args, T.hanzoSql)) {
            const ref = str(h.props?.adminSecret);
            if (ref !== undefined) {
                admin.add(ref);
            }
        }
        const servers = postgresServers(args);
        for (const sts of servers) {
            const ns = str(sts.props?.metadata?.namespace) ?? "";
            for (const r of secretReads(WORKLOADS[T.statefulSet](sts.props))) {
                if (r.how === "env POSTGRES_PASSWORD") {
                    admin.add(`${ns}/${r.secret}`);
                }
            }
        }
        const backup = new Set<string>();
        for (const s of ofType(args, T.secret)) {
            const ns = str(s.props?.metadata?.namespace) ?? "";
            const name = str(s.props?.metadata?.name);
            const data = s.props?.stringData;
            const user = typeof data === "object" && data !== null ? str((data as Record<string, unknown>).PGUSER) : undefined;
            if (name !== undefined && (name === BACKUP_CREDENTIALS_SECRET || user === BACKUP_ROLE)) {
                backup.add(`${ns}/${name}`);
            }
        }
        const programServer = (w: { type: string; urn: string }) =>
            w.type === T.statefulSet && (builtBy(w, T.postgresInstance) || builtBy(w, T.postgresStandbys));
        const programJob = (w: { type: string; urn: string; props: Record<string, unknown> }) =>
            w.type === T.cronJob &&
            builtBy(w, T.postgresBackups) &&
            [BACKUP_CRONJOB, DRILL_CRONJOB].includes(str((w.props?.metadata as { name?: string })?.name) ?? "");
        // The archive's Secrets (docs/pitr.md): the bucket key for the server and the base backups, each side's TLS key.
        const pitrJob = (w: { type: string; urn: string; props: Record<string, unknown> }) =>
            w.type === T.cronJob &&
            builtBy(w, T.postgresArchive) &&
            ([PITR_OBJECTS.fullCronJob, PITR_OBJECTS.diffCronJob] as string[]).includes(
                str((w.props?.metadata as { name?: string })?.name) ?? "",
            );
        const archiveReaders: Record<string, [(w: { type: string; urn: string; props: Record<string, unknown> }) => boolean, string]> = {
            [PITR_OBJECTS.credentials]: [(w) => programServer(w) || pitrJob(w), "the server StatefulSet and the base backup CronJobs"],
            [PITR_OBJECTS.serverTls]: [programServer, "the server StatefulSet"],
            [PITR_OBJECTS.clientTls]: [pitrJob, "the base backup CronJobs"],
        };
        const archive = new Map<string, (typeof archiveReaders)[string]>();
        for (const s of ofType(args, T.secret).filter((x) => builtBy(x, T.postgresArchive))) {
            const name = str(s.props?.metadata?.name) ?? "";
            if (Object.hasOwn(archiveReaders, name)) {
                archive.set(`${str(s.props?.metadata?.namespace) ?? ""}/${name}`, archiveReaders[name]);
            }
        }
        const otherServers = new Set(servers.filter((s) => !programServer(s)).map((s) => s.urn));
        const serverName = servers.filter(programServer).map(k8sName)[0] ?? "postgres";

        for (const w of args.resources.filter((r) => r.type in WORKLOADS)) {
            const ns = str(w.props?.metadata?.namespace) ?? "";
            const pod = WORKLOADS[w.type](w.props);
            for (const r of secretReads(pod)) {
                const where = `${kindOf(w.type)} "${k8sName(w)}"${r.container !== undefined ? ` container "${r.container}"` : ""}`;
                const key = `${ns}/${r.secret}`;
                const volume = r.how.startsWith("volume");
                if (admin.has(key) && programServer(w) && volume && r.key !== PGPASS_KEY) {
                    report(
                        `${where} mounts the administrator's Secret "${r.secret}" (${r.how}); the server reads it through env only, remove the volume.`,
                        w.urn,
                    );
                } else if (admin.has(key) && !programServer(w) && (volume || otherServers.has(w.urn))) {
                    // A plain workload's env and envFrom reads are no-superuser-credentials'.
                    report(
                        `${where} reads the administrator's Secret "${r.secret}" (${r.how}); only the server the program builds (StatefulSet "${serverName}") may, give this workload a role of its own.`,
                        w.urn,
                    );
                }
                const reader = archive.get(key);
                if (reader !== undefined && !reader[0](w)) {
                    report(`${where} reads the archive's Secret "${r.secret}" (${r.how}); only ${reader[1]} may.`, w.urn);
                }
                if (backup.has(key) && !programJob(w)) {
                    report(
                        `${where} reads the backup role's Secret "${r.secret}" (${r.how}); only the program's ${BACKUP_CRONJOB} and ${DRILL_CRONJOB} CronJobs may, give this workload a role of its own.`,
                        w.urn,
                    );
                }
            }
        }
    },
};
