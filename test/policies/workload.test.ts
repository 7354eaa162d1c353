import * as assert from "assert";
import { workloadHardening, workloadIdentity } from "../../policies/workload";
import { planWith } from "../support/plan";
import { TYPE, add, find, inputs, mutable, planCopy, pooledPlanCopy, violations } from "../support/policy";

const P = "workload-hardening";
const STS = `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres"`;
const server = (plan: any) => inputs(find(plan, TYPE.statefulSet, "postgres"));

describe("workload-hardening", () => {
    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "staging", "dev"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(workloadHardening, await planCopy(stack)), []);
        });
    }

    it("rejects PGDATA at the mount point, no startup probe, no /dev/shm, missing resources, root", async () => {
        const plan = await planCopy();
        const pod = server(plan).spec.template.spec;
        const c = pod.containers[0];
        c.env.find((e: any) => e.name === "PGDATA").value = "/var/lib/postgresql/data";
        delete c.startupProbe;
        pod.volumes.find((v: any) => v.name === "dshm").emptyDir = {};
        delete c.resources.limits.memory;
        delete c.resources.requests.cpu;
        c.securityContext.runAsNonRoot = false;
        pod.securityContext.runAsNonRoot = false;
        assert.deepStrictEqual(await violations(workloadHardening, plan), [
            `${STS}: PGDATA /var/lib/postgresql/data is the volume's mount point; a fresh volume holds lost+found and initdb refuses it. Use a subdirectory such as /var/lib/postgresql/data/pgdata.`,
            `${STS}: container "postgres" has no startupProbe; without one the liveness probe can kill a long crash recovery.`,
            `${STS}: no memory-backed volume at /dev/shm (containers get 64MB; parallel queries fail); mount an emptyDir with medium: Memory.`,
            `${STS}: container "postgres" lacks resource requests.cpu, limits.memory.`,
            `${STS}: container "postgres" may run as root; set runAsNonRoot: true and runAsUser: 999 (the postgres user).`,
        ]);
    });

    it("accepts PGDATA at the mount point only on a volume adopted from the seed (annotated), as the adopting plan declares it", async () => {
        const adopted = mutable(
            (
                await planWith("hanzo-k8s", {
                    environment: "prod",
                    clusterName: "hanzo-k8s",
                    adopt: true,
                    adminPassword: { secure: "x" },
                    services: ["iam"],
                })
            ).engine,
        );
        // (and, adopted, server-side apply forced over the seed's field managers: components/adoption.ts)
        assert.deepStrictEqual(server(adopted).metadata.annotations, {
            "hanzo.ai/adopted-volume": "true",
            "pulumi.com/patchForce": "true",
        });
        assert.deepStrictEqual(await violations(workloadHardening, adopted), []);
        delete server(adopted).metadata.annotations;
        assert.deepStrictEqual(await violations(workloadHardening, adopted), [
            `${STS}: PGDATA /var/lib/postgresql/data is the volume's mount point; a fresh volume holds lost+found and initdb refuses it. Use a subdirectory such as /var/lib/postgresql/data/pgdata.`,
        ]);
    });

    it("rejects a PGDATA on no volume (the default path, unmounted)", async () => {
        const plan = await planCopy();
        const c = server(plan).spec.template.spec.containers[0];
        c.env = c.env.filter((e: any) => e.name !== "PGDATA");
        c.volumeMounts = c.volumeMounts.filter((m: any) => m.name !== "postgres-data");
        assert.deepStrictEqual(await violations(workloadHardening, plan), [
            `${STS}: PGDATA /var/lib/postgresql/data is on no volume; its data would be lost with the pod.`,
        ]);
    });

    it("rejects a small or differently-classed data volume in prod, and only there", async () => {
        const plan = await planCopy();
        server(plan).spec.volumeClaimTemplates[0].spec = {
            accessModes: ["ReadWriteOnce"],
            storageClassName: "standard",
            resources: { requests: { storage: "10Gi" } },
        };
        assert.deepStrictEqual(await violations(workloadHardening, plan), [
            `${STS}: the data volume requests 10Gi; the standard requires at least 50Gi in prod environment.`,
            `${STS}: the data volume uses storage class "standard"; the standard's is "do-block-storage".`,
        ]);
        assert.deepStrictEqual(await violations(workloadHardening, plan, { [P]: { environment: "staging" } }), []);
        assert.deepStrictEqual(
            await violations(workloadHardening, plan, { [P]: { storageClass: "standard", minimumStorage: "10Gi" } }),
            [],
        );
    });

    it("rejects :latest and untagged images in any workload of the stack", async () => {
        const plan = await planCopy();
        server(plan).spec.template.spec.containers[0].image = "ghcr.io/hanzoai/sql:latest";
        add(plan, TYPE.cronJob, "job", {
            metadata: { name: "job", namespace: "hanzo" },
            spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: "run", image: "amazon/aws-cli" }] } } } } },
        });
        assert.deepStrictEqual(await violations(workloadHardening, plan), [
            `${STS} container "postgres" image "ghcr.io/hanzoai/sql:latest" must not use :latest, which is not reproducible (STANDARD defect 7); pin a version tag or digest.`,
            `${P}: job (kubernetes:batch/v1:CronJob): CronJob "hanzo/job" container "run" image "amazon/aws-cli" must be pinned by a tag or digest; an untagged image means :latest, which is not reproducible (STANDARD defect 7).`,
        ]);
    });
});

describe("workload-identity", () => {
    const I = "workload-identity";
    const BACKUP = `${I}: hanzo-sql-backups-cronjob (kubernetes:batch/v1:CronJob): CronJob "hanzo/postgres-backup"`;
    const SERVER = `${I}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres"`;
    const backupPod = (plan: any) => inputs(find(plan, TYPE.cronJob, "postgres-backup")).spec.jobTemplate.spec.template.spec;

    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "staging", "dev"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(workloadIdentity, await planCopy(stack)), []);
        });
    }

    it("passes a pooled stack (PgBouncer's Deployment)", async () => {
        const plan = await pooledPlanCopy();
        assert.deepStrictEqual(await violations(workloadIdentity, plan), []);
    });

    it("rejects a workload of the default ServiceAccount, named or implied", async () => {
        const plan = await planCopy();
        delete backupPod(plan).serviceAccountName;
        server(plan).spec.template.spec.serviceAccountName = "default";
        assert.deepStrictEqual(await violations(workloadIdentity, plan), [
            `${SERVER} runs as the namespace's default ServiceAccount; give it its own (serviceAccountName) with automountServiceAccountToken: false.`,
            `${BACKUP} runs as the namespace's default ServiceAccount; give it its own (serviceAccountName) with automountServiceAccountToken: false.`,
        ]);
    });

    it("rejects a pod that mounts a token (its own field unset or true, which wins), and a ServiceAccount that would mount one", async () => {
        const plan = await planCopy();
        delete backupPod(plan).automountServiceAccountToken;
        server(plan).spec.template.spec.automountServiceAccountToken = true;
        delete inputs(find(plan, TYPE.serviceAccount, "postgres")).automountServiceAccountToken;
        assert.deepStrictEqual(await violations(workloadIdentity, plan), [
            `${SERVER}: its ServiceAccount "postgres" mounts an API token by default; set automountServiceAccountToken: false on it.`,
            `${SERVER} mounts an API token into its pods; set automountServiceAccountToken: false in the pod template (it wins over the ServiceAccount's).`,
            `${BACKUP} mounts an API token into its pods; set automountServiceAccountToken: false in the pod template (it wins over the ServiceAccount's).`,
        ]);
    });

    it("rejects a ServiceAccount the stack does not declare, and one shared by two workloads", async () => {
        const plan = await planCopy();
        backupPod(plan).serviceAccountName = "backup-elsewhere";
        add(plan, TYPE.deployment, "tool", {
            metadata: { name: "tool", namespace: "hanzo" },
            spec: {
                template: {
                    spec: {
                        serviceAccountName: "postgres",
                        automountServiceAccountToken: false,
                        containers: [{ name: "t", image: "busybox:1.36" }],
                    },
                },
            },
        });
        add(plan, "kubernetes:core/v1:Pod", "debug", {
            metadata: { name: "debug", namespace: "hanzo" },
            spec: { serviceAccount: "postgres", automountServiceAccountToken: false, containers: [{ name: "d", image: "busybox:1.36" }] },
        });
        assert.deepStrictEqual(await violations(workloadIdentity, plan), [
            `${BACKUP} runs as ServiceAccount "backup-elsewhere", which the stack does not declare; declare it with automountServiceAccountToken: false.`,
            `${I}: tool (kubernetes:apps/v1:Deployment): Deployment "hanzo/tool" shares ServiceAccount "postgres" with StatefulSet "hanzo/postgres"; give each workload its own.`,
            `${I}: debug (kubernetes:core/v1:Pod): Pod "hanzo/debug" shares ServiceAccount "postgres" with StatefulSet "hanzo/postgres"; give each workload its own.`,
        ]);
    });
});
