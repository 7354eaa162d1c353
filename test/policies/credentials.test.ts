import * as assert from "assert";
import { credentialsConfined } from "../../policies/credentials";
import { TYPE, add, find, inputs, planCopy, violations } from "../support/policy";

/** A pod template with one container, as a hand-added workload would have it. */
function podWith(container: Record<string, unknown>, volumes: unknown[] = []) {
    return { spec: { containers: [{ name: "app", image: "app:1", ...container }], volumes } };
}

describe("credentials-confined", () => {
    const P = "credentials-confined";
    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "staging", "dev"]) {
        it(`passes the ${stack} stack (the server reads the admin Secret, the backup and drill CronJobs the backup role's)`, async () => {
            assert.deepStrictEqual(await violations(credentialsConfined, await planCopy(stack)), []);
        });
    }

    it("rejects hand-added workloads of every kind that mount or load the backup role's Secret", async () => {
        const plan = await planCopy();
        const BACKUP = "postgres-backup-credentials";
        add(plan, TYPE.deployment, "reporter", {
            metadata: { name: "reporter", namespace: "hanzo" },
            spec: { template: podWith({ envFrom: [{ secretRef: { name: BACKUP } }] }) },
        });
        add(plan, TYPE.cronJob, "my-backup", {
            metadata: { name: "my-backup", namespace: "hanzo" },
            spec: {
                jobTemplate: {
                    spec: {
                        template: podWith({
                            env: [{ name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: BACKUP, key: "PGPASSWORD" } } }],
                        }),
                    },
                },
            },
        });
        add(plan, TYPE.job, "copy", {
            metadata: { name: "copy", namespace: "hanzo" },
            spec: {
                template: podWith({ volumeMounts: [{ name: "creds", mountPath: "/creds" }] }, [
                    { name: "creds", secret: { secretName: BACKUP } },
                ]),
            },
        });
        add(plan, TYPE.daemonSet, "agent", {
            metadata: { name: "agent", namespace: "hanzo" },
            spec: {
                template: podWith({ volumeMounts: [{ name: "all", mountPath: "/all" }] }, [
                    { name: "all", projected: { sources: [{ configMap: { name: "x" } }, { secret: { name: BACKUP } }] } },
                ]),
            },
        });
        add(plan, TYPE.pod, "shell", {
            metadata: { name: "shell", namespace: "hanzo" },
            spec: {
                containers: [
                    {
                        name: "sh",
                        image: "debian:12",
                        env: [{ name: "K", valueFrom: { secretKeyRef: { name: BACKUP, key: "AWS_SECRET_ACCESS_KEY" } } }],
                    },
                ],
            },
        });
        // The same name in another namespace is another Secret.
        add(plan, TYPE.deployment, "elsewhere", {
            metadata: { name: "elsewhere", namespace: "other" },
            spec: { template: podWith({ envFrom: [{ secretRef: { name: BACKUP } }] }) },
        });
        const ONLY = "only the program's postgres-backup and postgres-restore-drill CronJobs may, give this workload a role of its own.";
        assert.deepStrictEqual(await violations(credentialsConfined, plan), [
            `${P}: reporter (kubernetes:apps/v1:Deployment): Deployment "hanzo/reporter" container "app" reads the backup role's Secret "${BACKUP}" (envFrom); ${ONLY}`,
            `${P}: my-backup (kubernetes:batch/v1:CronJob): CronJob "hanzo/my-backup" container "app" reads the backup role's Secret "${BACKUP}" (env PGPASSWORD); ${ONLY}`,
            `${P}: copy (kubernetes:batch/v1:Job): Job "hanzo/copy" container "app" reads the backup role's Secret "${BACKUP}" (volume creds); ${ONLY}`,
            `${P}: agent (kubernetes:apps/v1:DaemonSet): DaemonSet "hanzo/agent" container "app" reads the backup role's Secret "${BACKUP}" (volume all); ${ONLY}`,
            `${P}: shell (kubernetes:core/v1:Pod): Pod "hanzo/shell" container "sh" reads the backup role's Secret "${BACKUP}" (env K); ${ONLY}`,
        ]);
    });

    it("recognises the program's jobs by parent and name: a CronJob named postgres-backup declared by hand is caught, and so is a sidecar of the server", async () => {
        const plan = await planCopy();
        add(plan, TYPE.cronJob, "impostor", {
            metadata: { name: "postgres-backup", namespace: "hanzo" },
            spec: { jobTemplate: { spec: { template: podWith({ envFrom: [{ secretRef: { name: "postgres-backup-credentials" } }] }) } } },
        });
        inputs(find(plan, TYPE.statefulSet, "postgres")).spec.template.spec.containers[1].envFrom = [
            { secretRef: { name: "postgres-backup-credentials" } },
        ];
        // A Secret of another name that logs in as the backup role is the backup role's credentials too.
        add(plan, TYPE.secret, "copy-of-backup", {
            metadata: { name: "dump-login", namespace: "hanzo" },
            stringData: { PGUSER: "hanzo_backup", PGPASSWORD: "x" },
        });
        add(plan, TYPE.deployment, "dumper", {
            metadata: { name: "dumper", namespace: "hanzo" },
            spec: { template: podWith({ envFrom: [{ secretRef: { name: "dump-login" } }] }) },
        });
        const ONLY = "only the program's postgres-backup and postgres-restore-drill CronJobs may, give this workload a role of its own.";
        assert.deepStrictEqual(await violations(credentialsConfined, plan), [
            `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres" container "exporter" reads the backup role's Secret "postgres-backup-credentials" (envFrom); ${ONLY}`,
            `${P}: impostor (kubernetes:batch/v1:CronJob): CronJob "hanzo/postgres-backup" container "app" reads the backup role's Secret "postgres-backup-credentials" (envFrom); ${ONLY}`,
            `${P}: dumper (kubernetes:apps/v1:Deployment): Deployment "hanzo/dumper" container "app" reads the backup role's Secret "dump-login" (envFrom); ${ONLY}`,
        ]);
    });

    it("rejects the administrator's Secret mounted as a volume anywhere (the server's own pod included), or read by a server the program did not build", async () => {
        const plan = await planCopy();
        const ADMIN = "postgres-credentials";
        add(plan, TYPE.deployment, "admin-tool", {
            metadata: { name: "admin-tool", namespace: "hanzo" },
            spec: {
                template: podWith({ volumeMounts: [{ name: "admin", mountPath: "/admin" }] }, [
                    { name: "admin", secret: { secretName: ADMIN } },
                ]),
            },
        });
        const pod = inputs(find(plan, TYPE.statefulSet, "postgres")).spec.template.spec;
        pod.volumes.push({ name: "admin", secret: { secretName: ADMIN } });
        pod.containers[0].volumeMounts.push({ name: "admin", mountPath: "/admin" });
        add(plan, TYPE.statefulSet, "second-server", {
            metadata: { name: "pg2", namespace: "hanzo" },
            spec: {
                template: {
                    spec: {
                        containers: [
                            {
                                name: "postgres",
                                image: "postgres:16.4",
                                env: [
                                    { name: "PGDATA", value: "/data/pgdata" },
                                    { name: "POSTGRES_PASSWORD", valueFrom: { secretKeyRef: { name: ADMIN, key: "password" } } },
                                ],
                            },
                        ],
                    },
                },
            },
        });
        // A volume no container mounts still hands the Secret to the node's kubelet for that pod.
        add(plan, TYPE.job, "unmounted", {
            metadata: { name: "unmounted", namespace: "hanzo" },
            spec: { template: podWith({}, [{ name: "a", secret: { secretName: ADMIN } }]) },
        });
        assert.deepStrictEqual(await violations(credentialsConfined, plan), [
            `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres" container "postgres" mounts the administrator's Secret "${ADMIN}" (volume admin); the server reads it through env only, remove the volume.`,
            `${P}: admin-tool (kubernetes:apps/v1:Deployment): Deployment "hanzo/admin-tool" container "app" reads the administrator's Secret "${ADMIN}" (volume admin); only the server the program builds (StatefulSet "hanzo/postgres") may, give this workload a role of its own.`,
            `${P}: second-server (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/pg2" container "postgres" reads the administrator's Secret "${ADMIN}" (env POSTGRES_PASSWORD); only the server the program builds (StatefulSet "hanzo/postgres") may, give this workload a role of its own.`,
            `${P}: unmounted (kubernetes:batch/v1:Job): Job "hanzo/unmounted" reads the administrator's Secret "${ADMIN}" (volume a); only the server the program builds (StatefulSet "hanzo/postgres") may, give this workload a role of its own.`,
        ]);
    });
});
