import * as assert from "assert";
import { X509Certificate, createPrivateKey } from "crypto";
import type { PlanResult } from "../../cli/plan/runner";
import { BACKUP_CREDENTIALS_SECRET, BACKUP_CRONJOB, DRILL_CRONJOB, PITR_OBJECTS } from "../../policies/standard/jobs";
import { renderBackupMetricsQueries, renderBackupScripts, renderRestoreMetricsQueries } from "../../render/backup";
import { HANZO_SQL_IMAGE, renderRestorePgbackrestConf } from "../../render/pitr";
import { backupScript, renderBackupJobConf, renderServerPodConf } from "../../render/pitrPod";
import { load } from "../support/config";
import { TYPES, ofType, planWith, resource, revealed } from "../support/plan";

const BASE = { environment: "prod", clusterName: "hanzo-k8s", services: ["iam", "cloud"], image: HANZO_SQL_IMAGE };
const PITR = { ...BASE, pitrEnabled: true };

/** The revealed inputs of the one resource of a type with this Kubernetes name. */
function object(p: PlanResult, type: string, name: string): any {
    const found = ofType(p, type).filter((r) => (r.inputs.metadata as { name?: string })?.name === name);
    assert.strictEqual(found.length, 1, `expected one ${type} ${name}, found ${found.length}`);
    return revealed(p, found[0]);
}

describe("program: point-in-time recovery wired into the pods (components/pitr.ts, docs/pitr.md)", function () {
    this.timeout(120_000);
    let plan: PlanResult;
    before(async () => {
        plan = await planWith("hanzo-k8s", PITR);
    });

    it("ships render/pitrPod.ts's two files in the pgbackrest ConfigMap, for the stack's archive", () => {
        const spec = load(PITR).instance.archive!;
        // load() names the stack "t"; the bucket default follows the stack's name.
        const archive = { ...spec, repo: { ...spec.repo, bucket: "hanzo-k8s-postgres-backups" } };
        assert.deepStrictEqual(object(plan, TYPES.configMap, PITR_OBJECTS.config).data, {
            "pgbackrest.conf": renderServerPodConf(archive),
            "pgbackrest-backup.conf": renderBackupJobConf(archive, { primary: "postgres.hanzo.svc" }),
        });
        const conf = object(plan, TYPES.configMap, "postgres-config").data["postgresql.conf"] as string;
        assert.deepStrictEqual(
            conf
                .split("\n")
                .filter((l) => /^(archive_mode|archive_command|archive_timeout|restore_command) /.test(l))
                .map((l) => l.replace(/\s+#.*$/, "")),
            [
                "archive_mode = on",
                "archive_command = 'pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=db archive-push %p'",
                "archive_timeout = 60s",
                `restore_command = 'pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=db archive-get %f "%p"'`,
            ],
        );
    });

    it("runs the sidecar in the server pod, with the archive's keys from their own Secret (the same key as the dumps')", () => {
        const pod = object(plan, TYPES.statefulSet, "postgres").spec.template.spec;
        assert.deepStrictEqual(
            pod.containers.map((c: any) => c.name),
            ["postgres", "exporter", "pgbackrest"],
        );
        const env = (c: any) =>
            c.env.filter((e: any) => e.name.startsWith("PGBACKREST_")).map((e: any) => [e.name, e.valueFrom.secretKeyRef]);
        const keys = [
            ["PGBACKREST_REPO1_S3_KEY", { name: PITR_OBJECTS.credentials, key: "AWS_ACCESS_KEY_ID" }],
            ["PGBACKREST_REPO1_S3_KEY_SECRET", { name: PITR_OBJECTS.credentials, key: "AWS_SECRET_ACCESS_KEY" }],
        ];
        assert.deepStrictEqual([env(pod.containers[0]), env(pod.containers[2])], [keys, keys]);
        assert.deepStrictEqual(
            pod.volumes.filter((v: any) => v.name.startsWith("pgbackrest-")),
            [
                { name: "pgbackrest-config", configMap: { name: PITR_OBJECTS.config } },
                { name: "pgbackrest-spool", emptyDir: {} },
                { name: "pgbackrest-tls", secret: { secretName: PITR_OBJECTS.serverTls, defaultMode: 0o440 } },
                { name: "pgbackrest-key", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
            ],
        );
        const archiveKeys = object(plan, TYPES.secret, PITR_OBJECTS.credentials).stringData;
        const dumpKeys = object(plan, TYPES.secret, "postgres-backup-credentials").stringData;
        assert.deepStrictEqual(archiveKeys, {
            AWS_ACCESS_KEY_ID: dumpKeys.AWS_ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY: dumpKeys.AWS_SECRET_ACCESS_KEY,
        });
    });

    it("gives each side a certificate of one CA: the server's names both role-selected Services, the client's is the CN the server admits; the CA's key is nowhere", () => {
        const server = object(plan, TYPES.secret, PITR_OBJECTS.serverTls).stringData;
        const client = object(plan, TYPES.secret, PITR_OBJECTS.clientTls).stringData;
        assert.deepStrictEqual(
            [Object.keys(server).sort(), Object.keys(client).sort()],
            [
                ["ca.crt", "tls.crt", "tls.key"],
                ["ca.crt", "tls.crt", "tls.key"],
            ],
        );
        assert.strictEqual(server["ca.crt"], client["ca.crt"]);
        const ca = new X509Certificate(server["ca.crt"]);
        const s = new X509Certificate(server["tls.crt"]);
        const c = new X509Certificate(client["tls.crt"]);
        assert.deepStrictEqual(
            [s.verify(ca.publicKey), c.verify(ca.publicKey), s.subjectAltName, c.subject, c.keyUsage],
            [
                true,
                true,
                "DNS:postgres.hanzo.svc, DNS:postgres.hanzo.svc.cluster.local, DNS:postgres-ro.hanzo.svc, DNS:postgres-ro.hanzo.svc.cluster.local",
                "CN=pgbackrest-backup",
                ["1.3.6.1.5.5.7.3.2"],
            ],
        );
        assert.ok(s.checkPrivateKey(createPrivateKey(server["tls.key"])));
        // Two private keys in the whole plan, each in its side's Secret.
        const text = plan.plan.resources.map((r) => [r.type, JSON.stringify(revealed(plan, r))] as const);
        assert.deepStrictEqual(
            text.filter(([, t]) => t.includes("PRIVATE KEY")).map(([type, t]) => [type, t.split("BEGIN PRIVATE KEY").length - 1]),
            [
                [TYPES.secret, 1],
                [TYPES.secret, 1],
            ],
        );
    });

    it("derives the same certificates on every run (the seed is in the state), so nothing rolls between `up`s", async () => {
        const again = await planWith("hanzo-k8s", PITR);
        for (const name of [PITR_OBJECTS.serverTls, PITR_OBJECTS.clientTls]) {
            assert.deepStrictEqual(object(again, TYPES.secret, name).stringData, object(plan, TYPES.secret, name).stringData);
        }
    });

    it("schedules full and differential backups, each CronJob its own identity, one set of pod labels", () => {
        const jobs = [PITR_OBJECTS.fullCronJob, PITR_OBJECTS.diffCronJob].map((n) => object(plan, TYPES.cronJob, n).spec);
        assert.deepStrictEqual(
            jobs.map((j) => [j.schedule, j.jobTemplate.spec.template.spec.serviceAccountName, j.jobTemplate.spec.template.metadata.labels]),
            [
                [
                    "0 1 * * 0",
                    "postgres-pitr-full",
                    { "app.kubernetes.io/name": "postgres-pitr-backup", "app.kubernetes.io/part-of": "hanzo-sql" },
                ],
                [
                    "0 1 * * 1-6",
                    "postgres-pitr-diff",
                    { "app.kubernetes.io/name": "postgres-pitr-backup", "app.kubernetes.io/part-of": "hanzo-sql" },
                ],
            ],
        );
    });

    it("admits the TLS server's port from the backup pods alone, and lets the server pod and the backup pods reach the bucket", () => {
        const backupPods = { "app.kubernetes.io/name": "postgres-pitr-backup", "app.kubernetes.io/part-of": "hanzo-sql" };
        assert.deepStrictEqual(object(plan, TYPES.networkPolicy, "postgres-pgbackrest").spec, {
            podSelector: { matchLabels: { app: "postgres" } },
            policyTypes: ["Ingress"],
            ingress: [{ from: [{ podSelector: { matchLabels: backupPods } }], ports: [{ protocol: "TCP", port: 8432 }] }],
        });
        const serverEgress = object(plan, TYPES.networkPolicy, "postgres-archive-egress").spec;
        assert.deepStrictEqual(
            [serverEgress.podSelector, serverEgress.policyTypes, serverEgress.egress.map((e: any) => e.ports)],
            [{ matchLabels: { app: "postgres" } }, ["Egress"], [[{ protocol: "TCP", port: 443 }]]],
        );
        const jobEgress = object(plan, TYPES.networkPolicy, "postgres-pitr-backup-egress").spec;
        assert.deepStrictEqual(jobEgress.egress[0], {
            to: [{ podSelector: { matchLabels: { app: "postgres" } } }],
            ports: [{ protocol: "TCP", port: 8432 }],
        });
        assert.deepStrictEqual(jobEgress.egress[1], serverEgress.egress[0]);
    });

    it("an adopted server (PGDATA at the volume's root) archives the same way: only pg1-path and the keys' mode differ", async () => {
        const adopted = await planWith("hanzo-k8s", { ...PITR, adopt: true, adminPassword: "the first admin password" }, [
            "hanzo-sql:adminPassword",
        ]);
        const conf = object(adopted, TYPES.configMap, PITR_OBJECTS.config).data["pgbackrest.conf"] as string;
        assert.deepStrictEqual(
            conf.split("\n").filter((l) => l.startsWith("pg1-path=")),
            ["pg1-path=/var/lib/postgresql/data"],
        );
        const pod = object(adopted, TYPES.statefulSet, "postgres").spec.template.spec;
        assert.deepStrictEqual(
            [pod.securityContext.fsGroup, pod.volumes.find((v: any) => v.name === "pgbackrest-tls")],
            [undefined, { name: "pgbackrest-tls", secret: { secretName: PITR_OBJECTS.serverTls, defaultMode: 0o444 } }],
        );
    });

    it("with standbys: every standby's pod runs the same sidecar, the backups copy from the standbys' Service, the policies cover every server pod", async () => {
        const withStandbys = await planWith("hanzo-k8s", { ...PITR, standbys: 2, synchronousStandbys: 1 });
        const spec = load(PITR).instance.archive!;
        const archive = { ...spec, repo: { ...spec.repo, bucket: "hanzo-k8s-postgres-backups" } };
        assert.deepStrictEqual(object(withStandbys, TYPES.configMap, PITR_OBJECTS.config).data, {
            "pgbackrest.conf": renderServerPodConf(archive),
            "pgbackrest-backup.conf": renderBackupJobConf(archive, { primary: "postgres.hanzo.svc", standby: "postgres-ro.hanzo.svc" }),
        });
        const primary = object(withStandbys, TYPES.statefulSet, "postgres").spec.template.spec;
        const standby = object(withStandbys, TYPES.statefulSet, "postgres-standby").spec.template.spec;
        const sidecar = (pod: any) => pod.containers.find((c: any) => c.name === "pgbackrest");
        assert.deepStrictEqual(
            standby.containers.map((c: any) => c.name),
            ["postgres", "exporter", "pgbackrest"],
        );
        assert.deepStrictEqual(sidecar(standby), sidecar(primary));
        assert.deepStrictEqual(
            standby.volumes.filter((v: any) => v.name.startsWith("pgbackrest")),
            primary.volumes.filter((v: any) => v.name.startsWith("pgbackrest")),
        );
        for (const cronJob of [PITR_OBJECTS.fullCronJob, PITR_OBJECTS.diffCronJob]) {
            const pod = object(withStandbys, TYPES.cronJob, cronJob).spec.jobTemplate.spec.template.spec;
            assert.deepStrictEqual(pod.containers[0].command, [
                "bash",
                "-c",
                backupScript(cronJob === PITR_OBJECTS.fullCronJob ? "full" : "diff", true),
            ]);
        }
        // The TLS port and the bucket: the same policies, selecting every server pod by `app` (the standbys' too).
        const standbyLabels = object(withStandbys, TYPES.statefulSet, "postgres-standby").spec.template.metadata.labels;
        assert.strictEqual(standbyLabels.app, "postgres");
        for (const name of ["postgres-pgbackrest", "postgres-archive-egress", "postgres-pitr-backup-egress"]) {
            assert.deepStrictEqual(object(withStandbys, TYPES.networkPolicy, name).spec, object(plan, TYPES.networkPolicy, name).spec);
        }
        // One max_slot_wal_keep_size: the replication's and the archive's bounds are one line.
        const conf = object(withStandbys, TYPES.configMap, "postgres-config").data["postgresql.conf"] as string;
        assert.strictEqual(conf.split("\n").filter((l) => l.startsWith("max_slot_wal_keep_size")).length, 1);
    });

    it("without pitrEnabled: no sidecar, no archive settings, none of its objects", async () => {
        const off = await planWith("hanzo-k8s", BASE);
        const names = new Set<string>(Object.values(PITR_OBJECTS));
        assert.deepStrictEqual(
            off.plan.resources.filter((r) => names.has((r.inputs.metadata as { name?: string })?.name ?? "")).map((r) => r.name),
            [],
        );
        assert.deepStrictEqual(
            object(off, TYPES.statefulSet, "postgres").spec.template.spec.containers.map((c: any) => c.name),
            ["postgres", "exporter"],
        );
        assert.ok(!(object(off, TYPES.configMap, "postgres-config").data["postgresql.conf"] as string).includes("archive_"));
    });
});

describe("program: the restore drill restores the WAL archive too when the stack archives (components/backups.ts, docs/pitr.md 'The drill')", function () {
    this.timeout(120_000);
    const RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule";
    let on: PlanResult;
    let off: PlanResult;
    before(async () => {
        on = await planWith("hanzo-k8s", PITR);
        off = await planWith("hanzo-k8s", BASE);
    });
    const drill = (p: PlanResult) => object(p, TYPES.cronJob, DRILL_CRONJOB).spec.jobTemplate.spec.template.spec;
    const scripts = (p: PlanResult) => object(p, TYPES.configMap, `${BACKUP_CRONJOB}-scripts`).data as Record<string, string>;
    const alerts = (p: PlanResult) =>
        (revealed(p, resource(p, RULE, "hanzo-sql-backups-alerts")).spec as any).groups.map((g: any) => [
            g.name,
            g.rules.map((r: any) => r.alert),
        ]);
    const queries = (p: PlanResult) => object(p, TYPES.configMap, "postgres-exporter-queries").data["queries.yaml"];

    it("runs the pitr-drill init container after fetch, in the server image, with the bucket key from the backup Secret the drill already reads", () => {
        const pod = drill(on);
        assert.deepStrictEqual(
            pod.initContainers.map((c: any) => c.name),
            ["fetch", "pitr-drill"],
        );
        const { name, image, command, env, ...rest } = pod.initContainers[1];
        const main = pod.containers[0];
        assert.deepStrictEqual([name, image, command], ["pitr-drill", HANZO_SQL_IMAGE, ["bash", "/scripts/pitr-drill.sh"]]);
        const secret = (key: string) => ({ secretKeyRef: { key, name: BACKUP_CREDENTIALS_SECRET } });
        assert.deepStrictEqual(env, [
            { name: "PGHOST", value: "postgres.hanzo.svc" },
            { name: "PGPORT", value: "5432" },
            { name: "PGUSER", valueFrom: secret("PGUSER") },
            { name: "PGPASSWORD", valueFrom: secret("PGPASSWORD") },
            { name: "BACKUP_DIR", value: "/backup" },
            { name: "SCRATCH_DIR", value: "/tmp/pitr-drill" },
            { name: "PITR_CONFIG", value: "/scripts/pgbackrest-drill.conf" },
            { name: "PITR_RESULT", value: "/backup/pitr-result" },
            { name: "PGBACKREST_REPO1_S3_KEY", valueFrom: secret("AWS_ACCESS_KEY_ID") },
            { name: "PGBACKREST_REPO1_S3_KEY_SECRET", valueFrom: secret("AWS_SECRET_ACCESS_KEY") },
        ]);
        // Mounts, limits and hardening as the dumps' drill container; that one waits for the archive's result.
        const { name: _n, image: _i, command: _c, env: mainEnv, ...mainRest } = main;
        assert.deepStrictEqual(rest, mainRest);
        assert.deepStrictEqual(mainEnv.slice(-1), [{ name: "PITR_RESULT", value: "/backup/pitr-result" }]);
        // Otherwise the pod is the one a stack without the archive runs (the scripts' checksum aside).
        const without = structuredClone(pod);
        without.initContainers.splice(1, 1);
        without.containers[0].env.pop();
        assert.deepStrictEqual(without, drill(off));
    });

    it("ships pitr-drill.sh and the drill's pgbackrest.conf (restoring into the pod's /tmp) in the scripts ConfigMap", () => {
        const archive = load(PITR).instance.archive!;
        const data = scripts(on);
        assert.deepStrictEqual(
            data["pgbackrest-drill.conf"],
            renderRestorePgbackrestConf(
                { ...archive, repo: { ...archive.repo, bucket: "hanzo-k8s-postgres-backups" } },
                { pgdata: "/tmp/pitr-drill/data", spoolPath: "/tmp/pitr-drill/spool" },
            ),
        );
        const { "pgbackrest-drill.conf": _conf, "pitr-drill.sh": script, ...rest } = data;
        assert.strictEqual(script, renderBackupScripts({ databases: [], defaultRetentionDays: 30, pitrDrillConf: "" })["pitr-drill.sh"]);
        assert.deepStrictEqual(rest, scripts(off));
    });

    it("adds the archive drill's alerts to the backups' PrometheusRule and its restore time to the exporter's queries", () => {
        const dumpGroups = [
            ["hanzo-sql-backups", ["PostgresBackupStale", "PostgresBackupNeverSucceeded", "PostgresBackupJobMissing"]],
            [
                "hanzo-sql-backup-databases",
                ["PostgresBackupDatabaseFailed", "PostgresBackupDatabaseStale", "PostgresRestoreDrillFailed", "PostgresRestoreDrillStale"],
            ],
        ];
        assert.deepStrictEqual(alerts(off), dumpGroups);
        assert.deepStrictEqual(alerts(on), [
            ...dumpGroups,
            ["hanzo-sql-pitr-drill", ["PostgresPitrDrillFailed", "PostgresPitrDrillStale", "PostgresPitrRestoreSlow"]],
        ]);
        assert.strictEqual(queries(off), renderBackupMetricsQueries());
        assert.strictEqual(queries(on), renderBackupMetricsQueries() + renderRestoreMetricsQueries());
    });

    it("with an endpoint of your own and a private CA: the drill's conf names the CA in the scripts ConfigMap", async () => {
        const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        const minio = {
            ...PITR,
            backupEndpoint: "https://minio.minio.svc:9000",
            backupAccessKeyId: "k",
            backupSecretAccessKey: "s",
            pitrEndpointCa: CA,
        };
        const p = await planWith("hanzo-k8s", minio, ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"]);
        const data = scripts(p);
        assert.strictEqual(data["pitr-endpoint-ca.crt"], CA);
        assert.deepStrictEqual(
            data["pgbackrest-drill.conf"].split("\n").filter((l) => l.startsWith("repo1-storage-ca-file")),
            ["repo1-storage-ca-file=/scripts/pitr-endpoint-ca.crt"],
        );
        // The dumps' AWS CLI talks to the same endpoint: it trusts the same CA (AWS_CA_BUNDLE), drill or not. The
        // pod runner found every upload failing without it ("self-signed certificate", test/pods/pitrDrill.test.ts).
        const bundles = (plan: PlanResult) =>
            ofType(plan, TYPES.cronJob).flatMap((r) => {
                const name = (r.inputs.metadata as { name: string }).name;
                type C = { name: string; env?: { name: string; value?: string }[] };
                const spec = (r.inputs.spec as { jobTemplate: { spec: { template: { spec: { initContainers?: C[]; containers: C[] } } } } })
                    .jobTemplate.spec.template.spec;
                return [...(spec.initContainers ?? []), ...spec.containers]
                    .filter((c) => c.env?.some((e) => e.name === "S3_ENDPOINT"))
                    .map((c) => [name, c.name, c.env!.find((e) => e.name === "AWS_CA_BUNDLE")?.value]);
            });
        assert.deepStrictEqual(bundles(p), [
            [BACKUP_CRONJOB, "upload", "/scripts/pitr-endpoint-ca.crt"],
            [DRILL_CRONJOB, "fetch", "/scripts/pitr-endpoint-ca.crt"],
        ]);
        const noDrill = await planWith("hanzo-k8s", { ...minio, backupDrillEnabled: false }, [
            "hanzo-sql:backupAccessKeyId",
            "hanzo-sql:backupSecretAccessKey",
        ]);
        assert.strictEqual(scripts(noDrill)["pitr-endpoint-ca.crt"], CA);
        assert.deepStrictEqual(bundles(noDrill), [[BACKUP_CRONJOB, "upload", "/scripts/pitr-endpoint-ca.crt"]]);
        // Without the CA (Spaces, or an endpoint of a public CA), the image's CAs: no bundle.
        const { pitrEndpointCa: _ca, ...publicCa } = minio;
        assert.deepStrictEqual(
            bundles(await planWith("hanzo-k8s", publicCa, ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"])),
            [
                [BACKUP_CRONJOB, "upload", undefined],
                [DRILL_CRONJOB, "fetch", undefined],
            ],
        );
    });

    it("with the drill off, no archive drill (the base backups still run)", async () => {
        const p = await planWith("hanzo-k8s", { ...PITR, backupDrillEnabled: false });
        assert.deepStrictEqual(
            ofType(p, TYPES.cronJob)
                .map((r) => (r.inputs.metadata as { name: string }).name)
                .sort(),
            [BACKUP_CRONJOB, PITR_OBJECTS.diffCronJob, PITR_OBJECTS.fullCronJob].sort(),
        );
        assert.deepStrictEqual(
            Object.keys(scripts(p)).filter((k) => /pitr|pgbackrest/.test(k)),
            [],
        );
        assert.strictEqual(queries(p), renderBackupMetricsQueries());
        assert.deepStrictEqual(
            alerts(p).map((g: [string, string[]]) => g[0]),
            ["hanzo-sql-backups", "hanzo-sql-backup-databases"],
        );
    });
});
