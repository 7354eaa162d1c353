import * as digitalocean from "@pulumi/digitalocean";
import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { backupAlerts, backupDatabaseAlerts, pitrDrillAlerts } from "../render/alerts";
import { labels as objectLabels } from "../render/labels";
import { BACKUP_STATUS_SCHEMA, renderBackupScripts } from "../render/backup";
import { schedulePeriodSeconds } from "../stacks/schedule";
import { BACKUP_ROLE, SYSTEM_ROLE_MEMBERSHIPS } from "../policies/standard/rules";
import { BACKUP_CREDENTIALS_SECRET, BACKUP_CRONJOB, DRILL_CRONJOB } from "../policies/standard/jobs";
import type { BackupSpec, MonitoringSpec, On, ServiceSpec } from "../stacks/spec";
import { configChecksum } from "../render/checksum";
import { BackupJobInput, BackupPodsInput, PITR_DRILL_SCRATCH, backupCronJob, drillCronJob } from "../render/pods/backup";
import { type PitrSpec, renderRestorePgbackrestConf } from "../render/pitr";
import { replacementOptions } from "../policies/standard/replacement";
import { TYPES } from "../policies/standard/types";
import { dataProtection, renamedDatabaseChild } from "./protection";
import { loginRole } from "./roles";
import type { RestoredObjects } from "../stacks/pitrBootstrap";
import { restoredImport } from "./bootstrap";
import { dnsEgress, endpointEgress, podEgress } from "../render/egress";
import { egressPolicy, workloadServiceAccount } from "./hardening";
import { stateInputs } from "./stateInputs";

/** The CronJobs' names (kube-state-metrics reports their last success under them; the alert watches that). */
export { BACKUP_CRONJOB, DRILL_CRONJOB };
/**
 * Membership that lets the backup role read every table of every database; with BYPASSRLS (rows hidden by
 * row-level security) and the server's lo_compat_privileges (large objects), pg_dump reads everything a
 * service can create. It writes only its own schema hanzo_backup in the postgres database (results). The
 * standard's list (policies/standard/roles.ts), which the policy pack allows and nothing more.
 */
export const BACKUP_ROLE_MEMBERSHIPS = SYSTEM_ROLE_MEMBERSHIPS[BACKUP_ROLE];

export interface PostgresBackupsArgs {
    /** Roles and databases a bootstrap restored (pitrBootstrapFrom.restored): imported, not created (components/bootstrap.ts). */
    readonly restored?: RestoredObjects;
    /** Namespace of every Kubernetes object (the Namespace resource's name when the stack creates it). */
    readonly namespace: pulumi.Input<string>;
    /** Schedule, retention, storage, images and drill from the stack spec (backups are on). */
    readonly backup: On<BackupSpec>;
    /** Services whose databases are dumped (those with a retention of at least one day). */
    readonly services: readonly ServiceSpec[];
    /** The Database resources, by database name: grants and the scripts (the list of databases) wait for them. */
    readonly databases: Readonly<Record<string, postgresql.Database>>;
    /** In-cluster host of the server. */
    readonly host: string;
    /** Its port. */
    readonly port: number;
    /** Labels of the server's pods, which the backup pods reach on `port`. */
    readonly serverSelector: Readonly<Record<string, string>>;
    /** Protect the bucket outside the test environment. */
    readonly protectData: boolean;
    /** Where alert rules go (a PrometheusRule for backup staleness), when monitoring is on. */
    readonly monitoring: MonitoringSpec;
    /** The namespace's name, known at declaration (alerts select by it). */
    readonly namespaceName: string;
    /** When the stack archives (pitrEnabled): the archive, the server image and the endpoint's CA, for the drill's restore. */
    readonly pitr?: { readonly archive: PitrSpec; readonly image: string; readonly endpointCa?: string };
}

/** The CA file of an endpoint of your own, as the drill pod sees it (in the scripts' ConfigMap, at /scripts). */
export const PITR_DRILL_CA_FILE = "pitr-endpoint-ca.crt";

/**
 * Backups (STANDARD §8, defect 4 fixed): a least-privilege role `hanzo_backup` (login, member of
 * pg_read_all_data, CONNECT on each service database), a private bucket with a key that can reach only it
 * (DigitalOcean Spaces) or an S3-compatible endpoint of your own, and a CronJob whose two containers share
 * a volume: the PostgreSQL client dumps and checks every database, then the AWS CLI uploads the dumps and
 * their manifest and prunes by retention. Expects `postgresql` and `kubernetes` providers.
 *
 * The bucket has no expiry rule on purpose: a lifecycle expiry would delete the last backups of a stack
 * whose job had been failing for a month; tested pruning keeps the newest complete backup whatever its age.
 */
export class PostgresBackups extends pulumi.ComponentResource {
    public readonly bucket: pulumi.Output<string>;
    public readonly endpoint: pulumi.Output<string>;
    public readonly scripts: Readonly<Record<string, string>>;
    /** The bucket's key (the WAL archive uses it too, components/pitr.ts). */
    public readonly accessKeyId: pulumi.Output<string>;
    public readonly secretAccessKey: pulumi.Output<string>;

    constructor(name: string, args: PostgresBackupsArgs, opts?: pulumi.ComponentResourceOptions) {
        // The databases by name: the Database resources themselves stay out of the state (see stateInputs).
        super(TYPES.postgresBackups, name, stateInputs({ ...args, databases: Object.keys(args.databases).sort() }), opts);
        const b = args.backup;
        const dumped = args.services.filter((s) => s.backupRetentionDays > 0);
        const impossible = (problem: string) => new pulumi.ResourceError(`PostgresBackups ${name}: ${problem}`, this);
        const missing = dumped.filter((s) => args.databases[s.database] === undefined).map((s) => s.database);
        if (missing.length > 0) {
            throw impossible(`no Database resource given for ${missing.join(", ")}: every dumped service's database must be in databases`);
        }
        const labels = objectLabels({ name: BACKUP_CRONJOB });

        // The role: reads every row of every table and every large object, writes only its results schema;
        // CONNECT where PUBLIC has none.
        const password = new random.RandomPassword(`${name}-role-password`, { length: 32, special: false }, { parent: this });
        const role = loginRole(
            `${name}-role`,
            {
                name: BACKUP_ROLE,
                password: password.result,
                roles: [...BACKUP_ROLE_MEMBERSHIPS],
                bypassRowLevelSecurity: true,
                privileged: true,
            },
            { parent: this, ...restoredImport(args.restored, "roles", BACKUP_ROLE) },
        );
        // Where report.sh records each database's result, for the metrics exporter.
        const statusSchema = new postgresql.Schema(
            `${name}-status-schema`,
            { name: BACKUP_STATUS_SCHEMA, database: "postgres", owner: role.name, ifNotExists: true },
            { parent: this },
        );
        new postgresql.Grant(
            `${name}-connect-postgres`,
            { database: "postgres", role: role.name, objectType: "database", privileges: ["CONNECT"] },
            { parent: this },
        );
        for (const s of dumped) {
            new postgresql.Grant(
                `${name}-connect-${s.name}`,
                { database: args.databases[s.database].name, role: role.name, objectType: "database", privileges: ["CONNECT"] },
                {
                    parent: this,
                    deletedWith: args.databases[s.database],
                    // A renamed service keeps its grant (renamed along with its database).
                    ...(s.renamedFrom ? { aliases: [{ name: `${name}-connect-${s.renamedFrom}` }] } : {}),
                    ...renamedDatabaseChild(s.renamedFrom !== undefined),
                },
            );
        }

        // Storage and its credentials.
        // Where the scripts reach the bucket: the endpoint of your own, else the Spaces region's.
        const endpointUrl = b.store.kind === "spaces" ? `https://${b.store.region}.digitaloceanspaces.com` : b.store.endpoint;
        let accessKeyId: pulumi.Input<string>;
        let secretAccessKey: pulumi.Input<string>;
        if (b.store.kind === "spaces") {
            const bucket = new digitalocean.SpacesBucket(
                `${name}-bucket`,
                {
                    name: b.bucket,
                    region: b.store.region,
                    acl: "private",
                    // Deleting the bucket never deletes the backups in it.
                    forceDestroy: false,
                    // Parts of an upload cut short are cleaned up; dumps are pruned by prune.sh, not by expiry.
                    lifecycleRules: [{ enabled: true, abortIncompleteMultipartUploadDays: 1 }],
                },
                // A new bucket name is a replacement (which protect stops), never a silent rename in state.
                { parent: this, ...dataProtection(args.protectData), ...replacementOptions(TYPES.spacesBucket) },
            );
            const key = new digitalocean.SpacesKey(
                `${name}-key`,
                { name: `${b.bucket}-writer`, grants: [{ bucket: bucket.name, permission: "readwrite" }] },
                { parent: this },
            );
            accessKeyId = key.accessKey;
            secretAccessKey = key.secretKey;
            this.bucket = bucket.name;
            this.endpoint = pulumi.output(endpointUrl);
        } else {
            accessKeyId = pulumi.secret(b.store.accessKeyId);
            secretAccessKey = pulumi.secret(b.store.secretAccessKey);
            this.bucket = pulumi.output(b.bucket);
            this.endpoint = pulumi.output(endpointUrl);
        }

        this.accessKeyId = pulumi.output(accessKeyId);
        this.secretAccessKey = pulumi.secret(secretAccessKey);
        const secret = new k8s.core.v1.Secret(
            `${name}-credentials`,
            {
                metadata: { name: BACKUP_CREDENTIALS_SECRET, namespace: args.namespace, labels },
                type: "Opaque",
                stringData: {
                    PGUSER: role.name,
                    PGPASSWORD: password.result,
                    AWS_ACCESS_KEY_ID: accessKeyId,
                    AWS_SECRET_ACCESS_KEY: secretAccessKey,
                },
            },
            { parent: this },
        );

        // The archive's drill restores into the pod's /tmp; with an endpoint of your own, its CA rides along.
        const pitr = b.drill.enabled ? args.pitr : undefined;
        const drillArchive: PitrSpec | undefined =
            pitr && pitr.archive.repo.caFile !== undefined
                ? { ...pitr.archive, repo: { ...pitr.archive.repo, caFile: `/scripts/${PITR_DRILL_CA_FILE}` } }
                : pitr?.archive;
        const scriptFiles = renderBackupScripts({
            databases: dumped.map((s) => ({
                name: s.database,
                role: s.role,
                retentionDays: s.backupRetentionDays,
                extensions: s.extensions,
                requiredTables: s.requiredTables,
            })),
            defaultRetentionDays: b.retentionDays,
            ...(drillArchive
                ? {
                      pitrDrillConf: renderRestorePgbackrestConf(drillArchive, {
                          pgdata: `${PITR_DRILL_SCRATCH}/data`,
                          spoolPath: `${PITR_DRILL_SCRATCH}/spool`,
                      }),
                  }
                : {}),
        });
        // The endpoint's private CA (pitrEndpointCa) also verifies it for the dumps' AWS CLI (upload, fetch,
        // prune): the bucket is one endpoint; without it every dump's upload fails ("self-signed certificate").
        const endpointCa = args.pitr?.endpointCa;
        this.scripts = endpointCa !== undefined ? { ...scriptFiles, [PITR_DRILL_CA_FILE]: endpointCa } : scriptFiles;
        // The list names databases that exist: an `up` that failed to create one ships no list with it.
        const scripts = new k8s.core.v1.ConfigMap(
            `${name}-scripts`,
            { metadata: { name: `${BACKUP_CRONJOB}-scripts`, namespace: args.namespace, labels }, data: this.scripts },
            { parent: this, dependsOn: [...dumped.map((s) => args.databases[s.database]), statusSchema] },
        );

        // The pods are built by render/pods/backup.ts; this wires them to the objects above.
        const pods: BackupPodsInput = {
            dumpImage: b.dumpImage,
            s3Image: b.s3Image,
            host: args.host,
            port: args.port,
            credentialsSecret: secret.metadata.name,
            endpoint: this.endpoint,
            bucket: this.bucket,
            prefix: b.prefix,
            scriptsConfigMap: scripts.metadata.name,
            scriptsChecksum: configChecksum(this.scripts),
            ...(endpointCa !== undefined ? { caBundle: `/scripts/${PITR_DRILL_CA_FILE}` } : {}),
        };
        // Out of a backup or drill pod: the server, the bucket's endpoint, name resolution.
        const egress = [podEgress(args.serverSelector, args.port), endpointEgress(endpointUrl, args.namespaceName), dnsEgress()];
        const cronJob = (
            resourceName: string,
            jobName: string,
            schedule: string,
            build: (input: BackupPodsInput, job: BackupJobInput) => k8s.types.input.batch.v1.CronJobSpec,
        ) => {
            const jobLabels = objectLabels({ name: jobName });
            // Each CronJob's pods have their own identity (no API token) and egress policy.
            const serviceAccount = workloadServiceAccount(
                `${resourceName}-service-account`,
                { namespace: args.namespace, name: jobName, labels: jobLabels },
                { parent: this },
            );
            egressPolicy(
                `${resourceName}-egress`,
                { namespace: args.namespace, name: `${jobName}-egress`, labels: jobLabels, podSelector: jobLabels, egress },
                { parent: this },
            );
            return new k8s.batch.v1.CronJob(
                resourceName,
                {
                    metadata: { name: jobName, namespace: args.namespace, labels: jobLabels },
                    spec: build(pods, { labels: jobLabels, serviceAccountName: serviceAccount.metadata.name, schedule }),
                },
                { parent: this },
            );
        };

        cronJob(`${name}-cronjob`, BACKUP_CRONJOB, b.schedule, backupCronJob);
        if (b.drill.enabled) {
            cronJob(`${name}-drill`, DRILL_CRONJOB, b.drill.schedule, (input, job) =>
                drillCronJob(input, job, pitr ? { image: pitr.image } : undefined),
            );
        }

        if (args.monitoring.enabled) {
            // The Job succeeds only once its manifest is uploaded: its last success is the last complete backup.
            new k8s.apiextensions.CustomResource(
                `${name}-alerts`,
                {
                    apiVersion: "monitoring.coreos.com/v1",
                    kind: "PrometheusRule",
                    metadata: {
                        name: `${BACKUP_CRONJOB}-alerts`,
                        namespace: args.namespace,
                        labels: objectLabels({ name: BACKUP_CRONJOB, extra: { release: args.monitoring.release } }),
                    },
                    spec: {
                        groups: [
                            backupAlerts({
                                namespace: args.namespaceName,
                                cronJob: BACKUP_CRONJOB,
                                periodSeconds: schedulePeriodSeconds(b.schedule),
                            }),
                            backupDatabaseAlerts({
                                namespace: args.namespaceName,
                                periodSeconds: schedulePeriodSeconds(b.schedule),
                                drillPeriodSeconds: b.drill.enabled ? schedulePeriodSeconds(b.drill.schedule) : undefined,
                            }),
                            ...(pitr && b.drill.enabled
                                ? [
                                      pitrDrillAlerts({
                                          namespace: args.namespaceName,
                                          drillPeriodSeconds: schedulePeriodSeconds(b.drill.schedule),
                                      }),
                                  ]
                                : []),
                        ],
                    },
                },
                { parent: this },
            );
        }

        this.registerOutputs({ bucket: this.bucket, endpoint: this.endpoint });
    }
}
