import * as assert from "assert";
import { maintenanceDatabasesClosed, noSuperuserCredentials, noSuperuserRoles } from "../../policies/roles";
import { TYPE, add, find, inputs, plain, planCopy, remove, secret, violations } from "../support/policy";

describe("no-superuser-roles", () => {
    for (const stack of ["hanzo-k8s", "lux-k8s", "test"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(noSuperuserRoles, await planCopy(stack)), []);
        });
    }

    it("rejects every forbidden attribute on an application role, and allows the administrator", async () => {
        const plan = await planCopy();
        Object.assign(inputs(find(plan, TYPE.role, "iam_user")), { superuser: true });
        Object.assign(inputs(find(plan, TYPE.role, "kms_user")), {
            createRole: true,
            createDatabase: true,
            replication: true,
            bypassRowLevelSecurity: true,
        });
        add(plan, TYPE.role, "admin", { name: "hanzo", superuser: true, login: true });
        assert.deepStrictEqual(await violations(noSuperuserRoles, plan), [
            'no-superuser-roles: hanzo-sql-iam-role (postgresql:index/role:Role): role "iam_user" has SUPERUSER; only "hanzo" administers the server, application roles have none of SUPERUSER, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS.',
            'no-superuser-roles: hanzo-sql-kms-role (postgresql:index/role:Role): role "kms_user" has CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS; only "hanzo" administers the server, application roles have none of SUPERUSER, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS.',
        ]);
    });

    it("lets the backup role bypass row-level security (pg_dump reads every row), and nothing more", async () => {
        const plan = await planCopy();
        const backup = inputs(find(plan, TYPE.role, "hanzo_backup"));
        assert.strictEqual(backup.bypassRowLevelSecurity, true);
        assert.deepStrictEqual(await violations(noSuperuserRoles, plan), []);
        Object.assign(backup, { createRole: true });
        Object.assign(inputs(find(plan, TYPE.role, "iam_user")), { bypassRowLevelSecurity: true });
        // In the plan's order, which is the order the SDK registered them in (not a property of the policy).
        assert.deepStrictEqual((await violations(noSuperuserRoles, plan)).sort(), [
            'no-superuser-roles: hanzo-sql-backups-role (postgresql:index/role:Role): role "hanzo_backup" has CREATEROLE; only "hanzo" administers the server, application roles have none of SUPERUSER, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS.',
            'no-superuser-roles: hanzo-sql-iam-role (postgresql:index/role:Role): role "iam_user" has BYPASSRLS; only "hanzo" administers the server, application roles have none of SUPERUSER, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS.',
        ]);
    });
});

describe("no-superuser-credentials", () => {
    const P = "no-superuser-credentials";
    for (const stack of ["hanzo-k8s", "lux-k8s", "test"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(noSuperuserCredentials, await planCopy(stack)), []);
        });
    }

    it("rejects a connection Secret built from the superuser's password (values redacted)", async () => {
        const plan = await planCopy();
        const adminPassword = find(plan, TYPE.password, "hanzo-sql-postgres-admin-password");
        find(plan, TYPE.secret, "console-database").dependencies.push(adminPassword.urn);
        assert.deepStrictEqual(await violations(noSuperuserCredentials, plan), [
            `${P}: hanzo-sql-console-connection (kubernetes:core/v1:Secret): Secret "hanzo/console-database" is built from the superuser's password (hanzo-sql-postgres-admin-password); give the service its own role.`,
        ]);
    });

    it("rejects a Secret whose visible values log in as hanzo", async () => {
        const plan = await planCopy();
        add(plan, TYPE.secret, "legacy-url", {
            metadata: { name: "legacy", namespace: "hanzo" },
            stringData: { DATABASE_URL: "postgresql://hanzo:pw@postgres.hanzo.svc:5432/iam" },
        });
        add(plan, TYPE.secret, "legacy-dsn", {
            metadata: { name: "legacy-dsn", namespace: "hanzo" },
            stringData: { dataSourceName: "user=hanzo password=pw host=postgres.hanzo.svc" },
        });
        add(plan, TYPE.secret, "fine", {
            metadata: { name: "fine", namespace: "hanzo" },
            stringData: { DB_USER: "iam_user", DATABASE_URL: "postgresql://hanzo_app:pw@h/db" },
        });
        assert.deepStrictEqual(await violations(noSuperuserCredentials, plan), [
            `${P}: legacy-url (kubernetes:core/v1:Secret): Secret "hanzo/legacy" connects as the superuser "hanzo" (key DATABASE_URL); give the service its own role.`,
            `${P}: legacy-dsn (kubernetes:core/v1:Secret): Secret "hanzo/legacy-dsn" connects as the superuser "hanzo" (key dataSourceName); give the service its own role.`,
        ]);
    });

    it("rejects workloads, sidecars included, that read the superuser's Secret or log in as hanzo", async () => {
        const plan = await planCopy();
        add(plan, TYPE.deployment, "app", {
            metadata: { name: "app", namespace: "hanzo" },
            spec: {
                template: {
                    spec: {
                        containers: [
                            {
                                name: "app",
                                image: "app:1",
                                env: [
                                    { name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: "postgres-credentials", key: "password" } } },
                                ],
                                envFrom: [{ secretRef: { name: "postgres-credentials" } }],
                            },
                        ],
                    },
                },
            },
        });
        add(plan, TYPE.cronJob, "backup", {
            metadata: { name: "backup", namespace: "hanzo" },
            spec: {
                jobTemplate: {
                    spec: {
                        template: { spec: { containers: [{ name: "dump", image: "pg:16", env: [{ name: "PGUSER", value: "hanzo" }] }] } },
                    },
                },
            },
        });
        const sts = inputs(find(plan, TYPE.statefulSet, "postgres"));
        sts.spec.template.spec.containers.push({
            name: "exporter",
            image: "exporter:0.15.0",
            env: [{ name: "DATA_SOURCE_PASS", valueFrom: { secretKeyRef: { name: "postgres-credentials", key: "password" } } }],
        });
        assert.deepStrictEqual(await violations(noSuperuserCredentials, plan), [
            `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres" container "exporter" reads the superuser's Secret "postgres-credentials" (env DATA_SOURCE_PASS); use a least-privilege role of its own.`,
            `${P}: app (kubernetes:apps/v1:Deployment): Deployment "hanzo/app" container "app" reads the superuser's Secret "postgres-credentials" (env PGPASSWORD); use a least-privilege role of its own.`,
            `${P}: app (kubernetes:apps/v1:Deployment): Deployment "hanzo/app" container "app" loads the superuser's Secret "postgres-credentials" (envFrom); use a least-privilege role of its own.`,
            `${P}: backup (kubernetes:batch/v1:CronJob): CronJob "hanzo/backup" container "dump" connects as the superuser "hanzo" (env PGUSER); use a least-privilege role of its own.`,
        ]);
    });

    it("recognises the superuser's password by value in a hand-declared Secret or Deployment (secrets arrive in plain text)", async () => {
        const plan = await planCopy();
        const provider = plan.resources.find((r) => r.type === "pulumi:providers:postgresql")!;
        const admin = plain(provider.inputs.password) as string;
        assert.ok(admin.length >= 8);
        add(plan, TYPE.secret, "app-db", {
            metadata: { name: "app-db", namespace: "hanzo" },
            stringData: secret({ DB_USER: "app_user", DB_PASSWORD: admin }),
        });
        add(plan, TYPE.deployment, "app", {
            metadata: { name: "app", namespace: "hanzo" },
            spec: { template: { spec: { containers: [{ name: "app", image: "app:1", env: [{ name: "DB_PASS", value: admin }] }] } } },
        });
        assert.deepStrictEqual(await violations(noSuperuserCredentials, plan), [
            `${P}: app-db (kubernetes:core/v1:Secret): Secret "hanzo/app-db" carries the superuser's password (key DB_PASSWORD); give the service its own role.`,
            `${P}: app (kubernetes:apps/v1:Deployment): Deployment "hanzo/app" container "app" carries the superuser's password (env DB_PASS); use a least-privilege role of its own.`,
        ]);
    });

    it("on a first preview (passwords unknown), still finds what it can know: the superuser's Secret read by an app", async () => {
        const plan = await planCopy("hanzo-k8s", true);
        add(plan, TYPE.deployment, "app", {
            metadata: { name: "app", namespace: "hanzo" },
            spec: {
                template: {
                    spec: { containers: [{ name: "app", image: "app:1", envFrom: [{ secretRef: { name: "postgres-credentials" } }] }] },
                },
            },
        });
        assert.deepStrictEqual(await violations(noSuperuserCredentials, plan), [
            `${P}: app (kubernetes:apps/v1:Deployment): Deployment "hanzo/app" container "app" loads the superuser's Secret "postgres-credentials" (envFrom); use a least-privilege role of its own.`,
        ]);
    });

    it("rejects a KMS sync into the superuser's Secret", async () => {
        const plan = await planCopy();
        add(plan, TYPE.seedKmsSecret, "kms-admin", {
            metadata: { name: "admin-sync", namespace: "hanzo" },
            spec: { managedSecretReference: { secretName: "postgres-credentials", secretNamespace: "hanzo" } },
        });
        assert.deepStrictEqual(await violations(noSuperuserCredentials, plan), [
            `${P}: kms-admin (kubernetes:secrets.infisical.com/v1alpha1:KMSSecret): KMSSecret "hanzo/admin-sync" syncs into the superuser's Secret "postgres-credentials"; sync each service's own credentials into its own Secret.`,
        ]);
    });
});

describe("maintenance-databases-closed", () => {
    const GRANT = "postgresql:index/grant:Grant";
    for (const stack of ["hanzo-k8s", "lux-k8s", "test"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(maintenanceDatabasesClosed, await planCopy(stack)), []);
        });
    }

    it("rejects a stack that leaves postgres or template1 open to PUBLIC", async () => {
        const plan = await planCopy();
        remove(
            plan,
            (r) => r.type === GRANT && (r.name === "hanzo-sql-postgres-revoke-public" || r.name === "hanzo-sql-template1-revoke-public"),
        );
        assert.deepStrictEqual(await violations(maintenanceDatabasesClosed, plan), [
            'maintenance-databases-closed: hanzo-k8s (pulumi:pulumi:Stack): database "postgres" is open to PUBLIC: add a Grant { database: "postgres", role: "public", objectType: "database", privileges: [] } (REVOKE ALL ON DATABASE postgres FROM PUBLIC), so no service role can connect.',
            'maintenance-databases-closed: hanzo-k8s (pulumi:pulumi:Stack): database "template1" is open to PUBLIC: add a Grant { database: "template1", role: "public", objectType: "database", privileges: [] } (REVOKE ALL ON DATABASE template1 FROM PUBLIC), so no service role can connect.',
        ]);
    });

    it("rejects a Grant that opens them again, and allows only the exporter's and the backup role's CONNECT on postgres", async () => {
        const plan = await planCopy();
        add(plan, GRANT, "iam-template1", { database: "template1", role: "iam_user", objectType: "database", privileges: ["CONNECT"] });
        add(plan, GRANT, "public-postgres", {
            database: "postgres",
            role: "PUBLIC",
            objectType: "database",
            privileges: ["connect", "temporary"],
        });
        add(plan, GRANT, "monitor-template1", {
            database: "template1",
            role: "hanzo_monitor",
            objectType: "database",
            privileges: ["CONNECT"],
        });
        add(plan, GRANT, "backup-temporary", {
            database: "postgres",
            role: "hanzo_backup",
            objectType: "database",
            privileges: ["CONNECT", "TEMPORARY"],
        });
        assert.deepStrictEqual(await violations(maintenanceDatabasesClosed, plan), [
            'maintenance-databases-closed: iam-template1 (postgresql:index/grant:Grant): Grant "iam-template1" gives "iam_user" CONNECT on database "template1"; only hanzo (and hanzo_monitor, hanzo_backup: CONNECT on postgres) may connect there.',
            'maintenance-databases-closed: public-postgres (postgresql:index/grant:Grant): Grant "public-postgres" gives PUBLIC CONNECT, TEMPORARY on database "postgres"; only hanzo (and hanzo_monitor, hanzo_backup: CONNECT on postgres) may connect there.',
            'maintenance-databases-closed: monitor-template1 (postgresql:index/grant:Grant): Grant "monitor-template1" gives "hanzo_monitor" CONNECT on database "template1"; only hanzo (and hanzo_monitor, hanzo_backup: CONNECT on postgres) may connect there.',
            'maintenance-databases-closed: backup-temporary (postgresql:index/grant:Grant): Grant "backup-temporary" gives "hanzo_backup" CONNECT, TEMPORARY on database "postgres"; only hanzo (and hanzo_monitor, hanzo_backup: CONNECT on postgres) may connect there.',
        ]);
    });
});
