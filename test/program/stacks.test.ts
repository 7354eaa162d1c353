import * as assert from "assert";
import { ADMIN_INIT_SQL } from "../../render/privilegedSession";
import { createHash } from "crypto";
import { configChecksum } from "../../components/postgresInstance";
import { APPLY_ADMIN_PASSWORD_SCRIPT } from "../../render/adminPassword";
import { scramVerifier } from "../../render/scram";
import { databaseUrl } from "../../render/connection";
import { hbaRules } from "../../policies/standard/pgHba";
import { renderPgHba } from "../../render/pgHba";
import { renderPostgresqlConf } from "../../render/postgresqlConf";
import { mockPassword } from "../../cli/plan/runner";
import { TYPES, ofType, planOf, planWith, resource, revealed } from "../support/plan";

const EXTENSIONS = ["vector", "pg_trgm", "uuid-ossp", "pg_stat_statements"];

/** The salt the mock gives a RandomId (cli/plan/runner.ts), read back from the plan's state. */
function saltOf(plan: Awaited<ReturnType<typeof planOf>>, name: string): string {
    return createHash("sha256")
        .update(`salt:${resource(plan, "random:index/randomId:RandomId", name).name}`)
        .digest()
        .subarray(0, 16)
        .toString("base64");
}

/** What each production stack must hold, exactly (STANDARD §1, §5). */
const STACKS: Record<string, { services: string[]; shapes: Record<string, string[]> }> = {
    "hanzo-k8s": {
        services: ["iam", "cloud", "console", "hanzo_cloud", "kms", "platform"],
        shapes: { iam: ["IAM_DATABASE_URL", "dataSourceName"], kms: ["DB_CONNECTION_URI"] },
    },
    "lux-k8s": {
        services: ["cloud", "commerce", "console", "gateway", "hanzo", "kms"],
        shapes: { gateway: ["dsn"], kms: ["DB_CONNECTION_URI"] },
    },
};

for (const [stack, expected] of Object.entries(STACKS)) {
    describe(`stack ${stack}`, () => {
        it("has exactly the standard's databases, each owned by its own role, from template0", async () => {
            const plan = await planOf(stack);
            assert.deepStrictEqual(
                ofType(plan, TYPES.database).map((d) => d.inputs),
                expected.services.map((s) => ({
                    name: s,
                    owner: `${s}_user`,
                    template: "template0",
                    encoding: "UTF8",
                    allowConnections: true,
                    connectionLimit: -1,
                })),
            );
        });

        it("has one login role per service with none of the forbidden attributes", async () => {
            const plan = await planOf(stack);
            assert.deepStrictEqual(
                ofType(plan, TYPES.role)
                    .filter((r) => !["hanzo_monitor", "hanzo_backup"].includes(String(r.inputs.name)))
                    .map((r) => r.inputs),
                expected.services.map((s) => ({
                    name: `${s}_user`,
                    login: true,
                    password: "[secret]",
                    superuser: false,
                    createDatabase: false,
                    createRole: false,
                    replication: false,
                    bypassRowLevelSecurity: false,
                    inherit: true,
                    connectionLimit: -1,
                })),
            );
        });

        it("creates the four extensions in every service database and in template1", async () => {
            const plan = await planOf(stack);
            const got = ofType(plan, TYPES.extension)
                .map((e) => `${e.inputs.database}:${e.inputs.name}:${e.inputs.schema}`)
                .sort();
            const want = ["template1", ...expected.services].flatMap((db) => EXTENSIONS.map((x) => `${db}:${x}:public`)).sort();
            assert.deepStrictEqual(got, want);
            for (const e of ofType(plan, TYPES.extension)) {
                assert.match(e.name, /^hanzo-sql-[a-z_0-9]+-ext-[a-z_-]+$/, "explicit, stable names");
            }
        });

        it("revokes CONNECT (all privileges) on postgres, template1 and every service database from PUBLIC", async () => {
            const plan = await planOf(stack);
            assert.deepStrictEqual(
                ofType(plan, TYPES.grant)
                    .filter((g) => g.name.endsWith("-revoke-public"))
                    .map((g) => g.inputs),
                ["postgres", "template1", ...expected.services].map((s) => ({
                    database: s,
                    role: "public",
                    objectType: "database",
                    privileges: [],
                })),
            );
        });

        it("writes each service's connection Secret with DATABASE_URL, DB_* and its client's own key", async () => {
            const plan = await planOf(stack);
            for (const service of expected.services) {
                const secret = resource(plan, TYPES.secret, `hanzo-sql-${service}-connection`);
                const data = revealed(plan, secret).stringData as Record<string, string>;
                const password = mockPassword(`hanzo-sql-${service}-password`, true);
                const url = `postgresql://${service}_user:${encodeURIComponent(password)}@postgres.hanzo.svc:5432/${service}?sslmode=disable`;
                assert.strictEqual(data.DATABASE_URL, url);
                assert.deepStrictEqual(
                    [data.DB_HOST, data.DB_PORT, data.DB_USER, data.DB_PASSWORD, data.DB_NAME, data.DB_SSLMODE],
                    ["postgres.hanzo.svc", "5432", `${service}_user`, password, service, "disable"],
                );
                assert.deepStrictEqual(secret.inputs.metadata, {
                    name: `${service.replace(/_/g, "-")}-database`,
                    namespace: "hanzo",
                    labels: { "app.kubernetes.io/part-of": "hanzo-sql", "hanzo.ai/service": service.replace(/_/g, "-") },
                });
                // The client's own keys are the same URL (IAM's too: xorm cannot read a keyword DSN safely).
                const keys = expected.shapes[service] ?? [];
                const common = ["DATABASE_URL", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME", "DB_SSLMODE", "pgpass"];
                const extra = Object.keys(data)
                    .filter((k) => !common.includes(k))
                    .sort();
                assert.deepStrictEqual(extra, keys, service);
                for (const key of keys) {
                    assert.strictEqual(data[key], url, `${service} ${key}`);
                }
            }
        });

        it("exposes Secret names in its outputs and never a password", async () => {
            const plan = await planOf(stack);
            const text = JSON.stringify(plan.outputs);
            assert.deepStrictEqual(
                plan.outputs.connectionSecrets,
                Object.fromEntries(expected.services.map((s) => [s, `hanzo/${s.replace(/_/g, "-")}-database`])),
            );
            assert.strictEqual(plan.outputs.adminSecret, "hanzo/postgres-credentials");
            for (const r of ofType(plan, TYPES.password)) {
                const pw = revealed(plan, r) && mockPassword(r.name, r.inputs.special !== false);
                assert.ok(!text.includes(pw), `output leaks ${r.name}`);
            }
        });

        it("looks the DOKS cluster up by name and keys the provider on the cluster ID", async () => {
            const plan = await planOf(stack);
            assert.deepStrictEqual(resource(plan, TYPES.k8sProvider, "hanzo-sql-k8s").inputs, {
                kubeconfig: "[secret]",
                clusterIdentifier: `plan-${stack}-cluster-id`,
                enableSecretMutable: "true",
                enableConfigMapMutable: "true",
            });
        });

        it("connects the PostgreSQL provider as hanzo with sslmode set, after the StatefulSet", async () => {
            const plan = await planOf(stack);
            const provider = resource(plan, TYPES.pgProvider, "hanzo-sql-pg");
            assert.deepStrictEqual(provider.inputs, {
                host: "127.0.0.1",
                port: "5432",
                username: "hanzo",
                password: "[secret]",
                database: "postgres",
                sslmode: "disable",
                superuser: "true",
                connectTimeout: "30",
            });
            const sts = resource(plan, TYPES.statefulSet, "hanzo-sql-postgres-statefulset");
            assert.ok(provider.dependencies.includes(sts.urn), "the provider waits for the StatefulSet");
            for (const r of [
                ...ofType(plan, TYPES.database),
                ...ofType(plan, TYPES.role),
                ...ofType(plan, TYPES.extension),
                ...ofType(plan, TYPES.grant),
            ]) {
                assert.strictEqual(r.options.provider, `${provider.urn}::hanzo-sql-pg-id`, r.name);
            }
        });
    });
}

describe("the PostgreSQL server on Kubernetes (hanzo-k8s)", () => {
    it("runs a StatefulSet with PGDATA below the mount, a startup probe, /dev/shm, hardening and the 50Gi volume", async () => {
        const plan = await planOf("hanzo-k8s");
        const sts = resource(plan, TYPES.statefulSet, "hanzo-sql-postgres-statefulset").inputs as any;
        const config = resource(plan, TYPES.configMap, "hanzo-sql-postgres-config").inputs as any;
        const labels = {
            app: "postgres",
            "app.kubernetes.io/name": "postgresql",
            "app.kubernetes.io/instance": "postgres",
            "app.kubernetes.io/part-of": "hanzo-sql",
        };
        const ready = ["pg_isready", "-U", "hanzo", "-d", "postgres"];
        // The pod rolls when the admin password changes: the annotation hashes its (salted) verifier.
        const verifier = (
            revealed(plan, resource(plan, TYPES.secret, "hanzo-sql-postgres-credentials")).stringData as Record<string, string>
        )["scram-verifier"];
        const adminChecksum = createHash("sha256").update(verifier).digest("hex");
        assert.strictEqual(
            verifier,
            scramVerifier(mockPassword("hanzo-sql-postgres-admin-password", false), saltOf(plan, "hanzo-sql-postgres-admin-password-salt")),
        );
        assert.deepStrictEqual(sts, {
            apiVersion: "apps/v1",
            kind: "StatefulSet",
            metadata: { name: "postgres", namespace: "hanzo", labels },
            spec: {
                serviceName: "postgres",
                podManagementPolicy: "OrderedReady",
                revisionHistoryLimit: 10,
                replicas: 1,
                selector: { matchLabels: { app: "postgres" } },
                updateStrategy: { type: "RollingUpdate" },
                persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
                template: {
                    metadata: {
                        // The role label (docs/standbys.md) on the pod only: the StatefulSet's labels, selector
                        // and claim template (replace-forcing) stay as they were.
                        labels: { ...labels, "hanzo.ai/role": "primary" },
                        annotations: {
                            "hanzo.ai/config-checksum": configChecksum(config.data),
                            "hanzo.ai/admin-password-checksum": adminChecksum,
                            "hanzo.ai/exporter-queries-checksum": configChecksum(
                                (resource(plan, TYPES.configMap, "hanzo-sql-postgres-exporter-queries").inputs as any).data,
                            ),
                        },
                    },
                    spec: {
                        terminationGracePeriodSeconds: 120,
                        enableServiceLinks: false,
                        serviceAccountName: "postgres",
                        automountServiceAccountToken: false,
                        securityContext: {
                            runAsUser: 999,
                            runAsGroup: 999,
                            runAsNonRoot: true,
                            fsGroup: 999,
                            fsGroupChangePolicy: "OnRootMismatch",
                            seccompProfile: { type: "RuntimeDefault" },
                        },
                        initContainers: [
                            {
                                name: "apply-admin-password",
                                image: "pgvector/pgvector:0.8.0-pg16",
                                command: ["bash", "-c", APPLY_ADMIN_PASSWORD_SCRIPT],
                                env: [
                                    { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
                                    {
                                        name: "HANZO_ADMIN_VERIFIER",
                                        valueFrom: { secretKeyRef: { name: "postgres-credentials", key: "scram-verifier" } },
                                    },
                                    { name: "PG_CONFIG_FILE", value: "/etc/postgresql/postgresql.conf" },
                                    { name: "PG_HBA_FILE", value: "/etc/postgresql/pg_hba.conf" },
                                ],
                                resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: "2", memory: "2Gi" } },
                                securityContext: {
                                    allowPrivilegeEscalation: false,
                                    readOnlyRootFilesystem: true,
                                    runAsNonRoot: true,
                                    capabilities: { drop: ["ALL"] },
                                },
                                volumeMounts: [
                                    { name: "postgres-data", mountPath: "/var/lib/postgresql/data" },
                                    { name: "config", mountPath: "/etc/postgresql", readOnly: true },
                                    { name: "dshm", mountPath: "/dev/shm" },
                                    { name: "tmp", mountPath: "/tmp" },
                                ],
                            },
                        ],
                        containers: [
                            {
                                name: "postgres",
                                image: "pgvector/pgvector:0.8.0-pg16",
                                args: [
                                    "postgres",
                                    "-c",
                                    "config_file=/etc/postgresql/postgresql.conf",
                                    "-c",
                                    "hba_file=/etc/postgresql/pg_hba.conf",
                                ],
                                ports: [{ name: "postgresql", containerPort: 5432, protocol: "TCP" }],
                                env: [
                                    {
                                        name: "POSTGRES_USER",
                                        valueFrom: { secretKeyRef: { name: "postgres-credentials", key: "username" } },
                                    },
                                    {
                                        name: "POSTGRES_PASSWORD",
                                        valueFrom: { secretKeyRef: { name: "postgres-credentials", key: "password" } },
                                    },
                                    { name: "POSTGRES_DB", value: "postgres" },
                                    { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
                                    {
                                        name: "POSTGRES_INITDB_ARGS",
                                        value: "--data-checksums --encoding=UTF8 --auth-local=trust --auth-host=scram-sha-256",
                                    },
                                ],
                                resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: "2", memory: "2Gi" } },
                                startupProbe: { exec: { command: ready }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 360 },
                                livenessProbe: { exec: { command: ready }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
                                readinessProbe: {
                                    exec: { command: [...ready, "-h", "127.0.0.1"] },
                                    periodSeconds: 5,
                                    timeoutSeconds: 3,
                                    failureThreshold: 3,
                                },
                                securityContext: {
                                    allowPrivilegeEscalation: false,
                                    readOnlyRootFilesystem: true,
                                    runAsNonRoot: true,
                                    capabilities: { drop: ["ALL"] },
                                },
                                volumeMounts: [
                                    { name: "postgres-data", mountPath: "/var/lib/postgresql/data" },
                                    { name: "config", mountPath: "/etc/postgresql", readOnly: true },
                                    {
                                        name: "config",
                                        mountPath: "/docker-entrypoint-initdb.d/hanzo-admin-search-path.sql",
                                        subPath: "hanzo-admin-search-path.sql",
                                        readOnly: true,
                                    },
                                    { name: "dshm", mountPath: "/dev/shm" },
                                    { name: "run", mountPath: "/var/run/postgresql" },
                                    { name: "tmp", mountPath: "/tmp" },
                                ],
                            },
                            {
                                name: "exporter",
                                image: "quay.io/prometheuscommunity/postgres-exporter:v0.11.1",
                                env: [
                                    { name: "DATA_SOURCE_URI", value: "127.0.0.1:5432/postgres?sslmode=disable" },
                                    {
                                        name: "DATA_SOURCE_USER",
                                        valueFrom: { secretKeyRef: { name: "postgres-monitor-credentials", key: "username" } },
                                    },
                                    {
                                        name: "DATA_SOURCE_PASS",
                                        valueFrom: { secretKeyRef: { name: "postgres-monitor-credentials", key: "password" } },
                                    },
                                    { name: "PG_EXPORTER_EXTEND_QUERY_PATH", value: "/etc/postgres-exporter/queries.yaml" },
                                ],
                                volumeMounts: [{ name: "exporter-queries", mountPath: "/etc/postgres-exporter", readOnly: true }],
                                ports: [{ name: "metrics", containerPort: 9187, protocol: "TCP" }],
                                resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "250m", memory: "128Mi" } },
                                readinessProbe: { httpGet: { path: "/metrics", port: "metrics" }, periodSeconds: 30, timeoutSeconds: 10 },
                                securityContext: {
                                    allowPrivilegeEscalation: false,
                                    readOnlyRootFilesystem: true,
                                    runAsNonRoot: true,
                                    capabilities: { drop: ["ALL"] },
                                },
                            },
                        ],
                        volumes: [
                            { name: "config", configMap: { name: "postgres-config" } },
                            { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: "1536Mi" } },
                            { name: "run", emptyDir: {} },
                            { name: "tmp", emptyDir: {} },
                            { name: "exporter-queries", configMap: { name: "postgres-exporter-queries" } },
                        ],
                    },
                },
                volumeClaimTemplates: [
                    {
                        metadata: { name: "postgres-data", labels },
                        spec: {
                            accessModes: ["ReadWriteOnce"],
                            storageClassName: "do-block-storage",
                            resources: { requests: { storage: "50Gi" } },
                        },
                    },
                ],
            },
        });
    });

    it("mounts the rendered postgresql.conf and pg_hba.conf", async () => {
        const plan = await planOf("hanzo-k8s");
        const config = resource(plan, TYPES.configMap, "hanzo-sql-postgres-config").inputs as any;
        assert.strictEqual(config.metadata.name, "postgres-config");
        assert.deepStrictEqual(config.data, {
            "postgresql.conf": renderPostgresqlConf(2 * 2 ** 30),
            "pg_hba.conf": renderPgHba(hbaRules(["10.0.0.0/8"])),
            "hanzo-admin-search-path.sql": ADMIN_INIT_SQL,
        });
    });

    it("serves postgres.hanzo.svc:5432 from a headless Service that selects the primary's pod only", async () => {
        const plan = await planOf("hanzo-k8s");
        assert.deepStrictEqual((resource(plan, TYPES.service, "hanzo-sql-postgres-service").inputs as any).spec, {
            clusterIP: "None",
            selector: { app: "postgres", "hanzo.ai/role": "primary" },
            ports: [{ name: "postgresql", port: 5432, targetPort: "postgresql", protocol: "TCP" }],
        });
    });

    it("admits only pods of the namespace to 5432, and only the monitoring namespace to the metrics port", async () => {
        const plan = await planOf("hanzo-k8s");
        assert.deepStrictEqual((resource(plan, TYPES.networkPolicy, "hanzo-sql-postgres-network-policy").inputs as any).spec, {
            podSelector: { matchLabels: { app: "postgres" } },
            policyTypes: ["Ingress"],
            ingress: [
                { from: [{ podSelector: {} }], ports: [{ protocol: "TCP", port: 5432 }] },
                {
                    from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
                    ports: [{ protocol: "TCP", port: 9187 }],
                },
            ],
        });
    });

    it("keeps the superuser's generated password in a Secret only", async () => {
        const plan = await planOf("hanzo-k8s");
        const secret = resource(plan, TYPES.secret, "hanzo-sql-postgres-credentials");
        const password = mockPassword("hanzo-sql-postgres-admin-password", false);
        assert.deepStrictEqual(revealed(plan, secret).stringData, {
            username: "hanzo",
            password,
            "scram-verifier": scramVerifier(password, saltOf(plan, "hanzo-sql-postgres-admin-password-salt")),
        });
        assert.deepStrictEqual(secret.inputs.stringData, { username: "[secret]", password: "[secret]", "scram-verifier": "[secret]" });
        assert.deepStrictEqual(resource(plan, TYPES.password, "hanzo-sql-postgres-admin-password").inputs, { length: 32, special: false });
    });
});

describe("configuration changes", () => {
    const base = { environment: "prod", clusterName: "hanzo-k8s", services: ["iam"] };

    it("rolls the pod when the rendered configuration changes (checksum annotation), and only then", async () => {
        const checksum = async (values: Record<string, unknown>) => {
            const plan = await planWith("hanzo-k8s", values);
            return (resource(plan, TYPES.statefulSet, "hanzo-sql-postgres-statefulset").inputs as any).spec.template.metadata.annotations[
                "hanzo.ai/config-checksum"
            ];
        };
        const a = await checksum(base);
        assert.strictEqual(await checksum({ ...base, services: ["iam", "cloud"] }), a, "adding a service does not restart the server");
        assert.notStrictEqual(await checksum({ ...base, memoryLimit: "4Gi" }), a);
        assert.notStrictEqual(await checksum({ ...base, podNetworkCidrs: ["10.244.0.0/16"] }), a);
    });

    it("sizes shared_buffers, maintenance_work_mem and /dev/shm from the memory limit, the build workers from the CPU limit", async () => {
        const plan = await planWith("hanzo-k8s", { ...base, memoryLimit: "8Gi", memoryRequest: "8Gi", cpuLimit: "4" });
        const conf = (resource(plan, TYPES.configMap, "hanzo-sql-postgres-config").inputs as any).data["postgresql.conf"] as string;
        assert.match(conf, /^shared_buffers = 2048MB +# 1\/4 of the 8Gi memory limit$/m);
        assert.match(conf, /^maintenance_work_mem = 4096MB /m);
        assert.match(conf, /^autovacuum_work_mem = 512MB /m);
        assert.match(conf, /^max_parallel_maintenance_workers = 3 +# the 4-core CPU limit less the leader, which builds too$/m);
        const sts = resource(plan, TYPES.statefulSet, "hanzo-sql-postgres-statefulset").inputs as any;
        assert.deepStrictEqual(sts.spec.template.spec.volumes[1], { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: "6Gi" } });
    });

    it("admits a service's own namespace to 5432 and puts its Secret there", async () => {
        const plan = await planWith("hanzo-k8s", { ...base, services: ["iam", { name: "commerce", namespace: "billing" }] });
        assert.deepStrictEqual(
            (resource(plan, TYPES.networkPolicy, "hanzo-sql-postgres-network-policy").inputs as any).spec.ingress[0].from,
            [{ podSelector: {} }, { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "billing" } } }],
        );
        assert.strictEqual((resource(plan, TYPES.secret, "hanzo-sql-commerce-connection").inputs as any).metadata.namespace, "billing");
    });

    it("uses the superuser password from configuration when set as a secret", async () => {
        const plan = await planWith("hanzo-k8s", { ...base, adminPassword: "correct-horse-battery-staple" }, ["hanzo-sql:adminPassword"]);
        assert.strictEqual(ofType(plan, TYPES.password).filter((r) => r.name.includes("admin")).length, 0);
        const secret = resource(plan, TYPES.secret, "hanzo-sql-postgres-credentials");
        assert.deepStrictEqual(revealed(plan, secret).stringData, {
            username: "hanzo",
            password: "correct-horse-battery-staple",
            "scram-verifier": scramVerifier("correct-horse-battery-staple", saltOf(plan, "hanzo-sql-postgres-admin-password-salt")),
        });
        assert.strictEqual(revealed(plan, resource(plan, TYPES.pgProvider, "hanzo-sql-pg")).password, "correct-horse-battery-staple");
    });

    it("percent-encodes a password full of reserved characters in DATABASE_URL", async () => {
        const plan = await planOf("hanzo-k8s");
        const data = revealed(plan, resource(plan, TYPES.secret, "hanzo-sql-iam-connection")).stringData as Record<string, string>;
        const pw = mockPassword("hanzo-sql-iam-password", true);
        assert.match(pw, /^p@ss:[0-9a-f]{10}\/#\?%[0-9a-f]{10}$/, "the mock's password carries @ : / # ? %");
        assert.strictEqual(
            data.DATABASE_URL,
            `postgresql://iam_user:p%40ss%3A${pw.slice(5, 15)}%2F%23%3F%25${pw.slice(19)}@postgres.hanzo.svc:5432/iam?sslmode=disable`,
        );
        assert.strictEqual(
            data.DATABASE_URL,
            databaseUrl({ user: "iam_user", password: pw, host: "postgres.hanzo.svc", port: 5432, database: "iam", sslmode: "disable" }),
        );
        assert.strictEqual(decodeURIComponent(new URL(data.DATABASE_URL).password), pw);
    });
});

describe("the test and dev stacks", () => {
    it("test: every database and role ends in _test, in its own namespace, which it creates", async () => {
        const plan = await planOf("test");
        const dbs = ofType(plan, TYPES.database).map((d) => [d.inputs.name, d.inputs.owner]);
        assert.deepStrictEqual(
            dbs,
            ["iam", "cloud", "console", "hanzo_cloud", "kms", "platform"].map((s) => [`${s}_test`, `${s}_test_user`]),
        );
        const serviceRoles = ofType(plan, TYPES.role)
            .map((r) => String(r.inputs.name))
            .filter((n) => !["hanzo_monitor", "hanzo_backup"].includes(n));
        assert.deepStrictEqual(
            serviceRoles,
            dbs.map(([, owner]) => owner),
        );
        assert.deepStrictEqual(resource(plan, TYPES.namespace, "hanzo-sql-namespace").inputs.metadata, { name: "hanzo-test" });
        const url = (revealed(plan, resource(plan, TYPES.secret, "hanzo-sql-iam-connection")).stringData as Record<string, string>)
            .DATABASE_URL;
        assert.match(url, /@postgres\.hanzo-test\.svc:5432\/iam_test\?sslmode=disable$/);
    });

    it("dev: uses the kubeconfig context instead of a DOKS lookup", async () => {
        const plan = await planOf("dev");
        assert.deepStrictEqual(resource(plan, TYPES.k8sProvider, "hanzo-sql-k8s").inputs, {
            context: "kind-hanzo",
            clusterIdentifier: "kind-hanzo",
            enableSecretMutable: "true",
            enableConfigMapMutable: "true",
        });
        const sts = resource(plan, TYPES.statefulSet, "hanzo-sql-postgres-statefulset").inputs as any;
        assert.deepStrictEqual(sts.spec.volumeClaimTemplates[0].spec, {
            accessModes: ["ReadWriteOnce"],
            storageClassName: "standard",
            resources: { requests: { storage: "5Gi" } },
        });
    });
});
