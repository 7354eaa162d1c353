import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { ADMIN_ROLE, MAINTENANCE_DATABASES, REQUIRED_EXTENSIONS } from "../policies/standard/rules";
import { parseQuantity } from "../policies/standard/quantity";
import { TYPES } from "../policies/standard/types";
import type { StackSpec } from "../stacks/spec";
import { renderBackupMetricsQueries, renderRestoreMetricsQueries } from "../render/backup";
import { renderReplicationMetricsQueries } from "../render/replicationAlerts";
import { PostgresBackups } from "./backups";
import { kubernetesProvider } from "./cluster";
import { PostgresMonitoring } from "./monitoring";
import { Pgbouncer, poolerEndpoint } from "./pooler";
import { PostgresReplication } from "./replication";
import { PostgresStandbys } from "./standbys";
import { READ_SERVICE } from "../policies/standard/replication";
import { PostgresInstance } from "./postgresInstance";
import { PostgresArchive, archiveInput } from "./pitr";
import { bootstrapInput } from "./bootstrap";
import { ServiceDatabase, databaseExtensions } from "./serviceDatabase";
import { stateInputs } from "./stateInputs";

export interface HanzoSqlArgs {
    /** The validated stack spec (stacks/load.ts). */
    readonly spec: StackSpec;
    /** Superuser password from configuration (a secret); generated when absent. */
    readonly adminPassword?: pulumi.Input<string>;
}

/**
 * A cluster's whole Hanzo SQL deployment: the Kubernetes provider, the PostgreSQL server, and one
 * ServiceDatabase per service, connected through a PostgreSQL provider that logs in as `hanzo`.
 */
export class HanzoSql extends pulumi.ComponentResource {
    public readonly instance: PostgresInstance;
    public readonly services: Readonly<Record<string, ServiceDatabase>>;
    /** `<namespace>/<name>` of the superuser Secret. */
    public readonly adminSecret: pulumi.Output<string>;
    /** The backups, when the stack has them. */
    public readonly backups?: PostgresBackups;

    constructor(name: string, args: HanzoSqlArgs, opts?: pulumi.ComponentResourceOptions) {
        // The environment is an input (in the spec) and, below, an output: the policy engine's AnalyzeStack
        // sees a component's registered outputs, and the policy pack reads the environment from there.
        super(TYPES.hanzoSql, name, stateInputs(args), opts);
        const spec = args.spec;

        const k8sProvider = kubernetesProvider(`${name}-k8s`, spec.cluster, { parent: this });
        let namespace: pulumi.Input<string> = spec.namespace;
        if (spec.createNamespace) {
            const ns = new k8s.core.v1.Namespace(
                `${name}-namespace`,
                { metadata: { name: spec.namespace } },
                { parent: this, provider: k8sProvider },
            );
            namespace = ns.metadata.name;
        }

        // The drill restores the WAL archive too when the stack archives (docs/pitr.md, "The drill").
        const pitrDrill =
            spec.backup.enabled && spec.backup.drill.enabled && spec.instance.archive !== undefined && spec.pitr !== undefined;
        // Restored from another stack's archive on its empty volume (pitrBootstrapFrom, components/bootstrap.ts).
        const bootstrap =
            spec.bootstrap && spec.instance.archive
                ? bootstrapInput(
                      `${name}-pitr-bootstrap`,
                      { namespace, bootstrap: spec.bootstrap, archive: spec.instance.archive, endpointCa: spec.pitr?.endpointCa },
                      { parent: this, provider: k8sProvider },
                  )
                : undefined;
        this.instance = new PostgresInstance(
            `${name}-postgres`,
            {
                namespace,
                instance: spec.instance,
                adminPassword: args.adminPassword,
                clientNamespaces: [...new Set(spec.services.map((s) => s.namespace))].filter((ns) => ns !== spec.namespace).sort(),
                protectData: spec.protectData,
                monitoring: spec.monitoring,
                namespaceName: spec.namespace,
                adopt: spec.adopt,
                // The exporter's query file: the backups' lines (and the PITR drill's), then the standbys'
                // (render/replicationAlerts.ts).
                exporterQueries:
                    [
                        spec.backup.enabled ? renderBackupMetricsQueries() : "",
                        pitrDrill ? renderRestoreMetricsQueries() : "",
                        spec.instance.replication.standbys > 0 ? renderReplicationMetricsQueries() : "",
                    ].join("") || undefined,
                ...(spec.instance.archive ? { archive: archiveInput() } : {}),
                ...(bootstrap ? { bootstrap } : {}),
            },
            { parent: this, providers: [k8sProvider] },
        );
        this.adminSecret = pulumi.interpolate`${spec.namespace}/${this.instance.adminSecretName}`;

        // The admin connection is made only once the StatefulSet is ready (the Kubernetes provider awaits
        // its rollout), through the endpoint the stack names (a port-forward, or the Service in-cluster):
        // it depends on both, so no PostgreSQL change starts before either is in place.
        const pgProvider = new postgresql.Provider(
            `${name}-pg`,
            {
                host: spec.admin.host,
                port: spec.admin.port,
                username: ADMIN_ROLE,
                password: this.instance.adminPassword,
                database: "postgres",
                sslmode: spec.admin.sslmode,
                superuser: true,
                connectTimeout: 30,
            },
            { parent: this, dependsOn: [this.instance.statefulSet, this.instance.service] },
        );

        if (spec.monitoring.enabled) {
            // stacks/ checked it; a spec built elsewhere may not have been.
            const volumeBytes = parseQuantity(spec.instance.storageSize);
            if (volumeBytes === undefined) {
                throw new pulumi.ResourceError(
                    `HanzoSql ${name}: storageSize "${spec.instance.storageSize}" is not a size such as 50Gi`,
                    this,
                );
            }
            new PostgresMonitoring(
                `${name}-monitoring`,
                {
                    namespace,
                    namespaceName: spec.namespace,
                    monitoring: spec.monitoring,
                    instanceName: spec.instance.name,
                    selector: { app: spec.instance.name },
                    volumeBytes,
                    password: this.instance.monitorPassword!,
                    standbys: spec.instance.replication.standbys,
                    ...(spec.bootstrap ? { restored: spec.bootstrap.restored } : {}),
                },
                { parent: this, providers: [pgProvider, k8sProvider] },
            );
        }

        // template1 gets the extensions too, so a database created later by hand has them (STANDARD §2).
        databaseExtensions(`${name}-template1`, "template1", REQUIRED_EXTENSIONS, spec.extensionVersions, {
            parent: this,
            provider: pgProvider,
        });
        // REVOKE ALL ON DATABASE postgres/template1 FROM PUBLIC: no service role connects there.
        for (const db of MAINTENANCE_DATABASES) {
            new postgresql.Grant(
                `${name}-${db}-revoke-public`,
                { database: db, role: "public", objectType: "database", privileges: [] },
                { parent: this, provider: pgProvider },
            );
        }

        if (spec.instance.replication.standbys > 0) {
            const replication = new PostgresReplication(
                `${name}-replication`,
                { namespace, replication: spec.instance.replication, ...(spec.bootstrap ? { restored: spec.bootstrap.restored } : {}) },
                { parent: this, providers: [pgProvider, k8sProvider] },
            );
            // The standbys' objects, once the role they clone as exists (components/standbys.ts).
            new PostgresStandbys(
                `${name}-standbys`,
                {
                    namespace,
                    primary: this.instance.server,
                    replication: spec.instance.replication,
                    port: spec.instance.port,
                    protectData: spec.protectData,
                },
                { parent: this, providers: [k8sProvider], dependsOn: [replication] },
            );
        }
        // Reads go to the standbys' Service when the stack has standbys (DATABASE_READ_URL, DB_READ_*).
        const readHost = spec.instance.replication.standbys > 0 ? `${READ_SERVICE}.${spec.namespace}.svc` : undefined;

        const pooler = spec.pooling.enabled ? poolerEndpoint(spec.namespace) : undefined;
        const services: Record<string, ServiceDatabase> = {};
        for (const service of spec.services) {
            services[service.name] = new ServiceDatabase(
                `${name}-${service.name}`,
                {
                    service,
                    host: spec.instance.host,
                    port: spec.instance.port,
                    protectData: spec.protectData,
                    pooler: service.pooled ? pooler : undefined,
                    readHost,
                    kms: spec.kms,
                    extensionVersions: spec.extensionVersions,
                    adopt: spec.adopt,
                    ...(spec.bootstrap ? { restored: spec.bootstrap.restored } : {}),
                },
                // A renamed service keeps its resources: every child's name starts with the component's, so
                // the SDK derives each child's alias from this one.
                {
                    parent: this,
                    providers: [pgProvider, k8sProvider],
                    ...(service.renamedFrom ? { aliases: [{ name: `${name}-${service.renamedFrom}` }] } : {}),
                },
            );
        }
        this.services = services;

        if (spec.pooling.enabled) {
            const pooled = spec.services.filter((s) => s.pooled);
            new Pgbouncer(
                `${name}-pgbouncer`,
                {
                    namespace,
                    namespaceName: spec.namespace,
                    pooling: spec.pooling,
                    // stacks/ refuses a pooled service that keeps its password, so every pooled one has one here.
                    users: pooled.flatMap((s) => {
                        const verifier = services[s.name].verifier;
                        return verifier ? [{ database: s.database, role: s.role, verifier }] : [];
                    }),
                    serverHost: spec.instance.host,
                    serverPort: spec.instance.port,
                    ...(readHost === undefined ? {} : { readHost }),
                    serverSelector: { app: spec.instance.name },
                    clientNamespaces: [...new Set(pooled.map((s) => s.namespace))].filter((ns) => ns !== spec.namespace).sort(),
                },
                { parent: this, providers: [k8sProvider] },
            );
        }

        if (spec.backup.enabled) {
            this.backups = new PostgresBackups(
                `${name}-backups`,
                {
                    namespace,
                    backup: spec.backup,
                    services: spec.services,
                    databases: Object.fromEntries(Object.values(services).map((s) => [s.databaseName, s.database])),
                    host: spec.instance.host,
                    port: spec.instance.port,
                    serverSelector: { app: spec.instance.name },
                    protectData: spec.protectData,
                    monitoring: spec.monitoring,
                    namespaceName: spec.namespace,
                    ...(spec.bootstrap ? { restored: spec.bootstrap.restored } : {}),
                    ...(spec.instance.archive && spec.pitr
                        ? { pitr: { archive: spec.instance.archive, image: spec.instance.image, endpointCa: spec.pitr.endpointCa } }
                        : {}),
                },
                { parent: this, providers: [pgProvider, k8sProvider] },
            );
        }

        // Continuous archiving and its base backups (docs/pitr.md), into the backups' bucket with its key.
        if (this.backups && spec.instance.archive && spec.pitr) {
            new PostgresArchive(
                `${name}-archive`,
                {
                    namespace,
                    namespaceName: spec.namespace,
                    archive: spec.instance.archive,
                    backups: spec.pitr,
                    image: spec.instance.image,
                    accessKeyId: this.backups.accessKeyId,
                    secretAccessKey: this.backups.secretAccessKey,
                    statefulSetName: spec.instance.name,
                    serviceName: spec.instance.name,
                    readServiceName: READ_SERVICE,
                    fromStandby: spec.instance.replication.standbys > 0,
                    serverSelector: { app: spec.instance.name },
                },
                { parent: this, providers: [k8sProvider] },
            );
        }

        this.registerOutputs({ adminSecret: this.adminSecret, environment: spec.environment });
    }
}
