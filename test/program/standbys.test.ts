/**
 * The standbys' Kubernetes objects as the program declares them (issue 24, docs/standbys.md "Kubernetes shape"):
 * exact inputs of the standbys' StatefulSet, the read Service, the egress rule between server pods, the primary's
 * pod in a stack with standbys (start script, pgpass lines, role-checking readiness), and the administrator's
 * Secret's pgpass line. The transitions that add and remove them are in test/program/transitions.test.ts; the
 * pods run in test/pods/standby.test.ts.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { VALID } from "../support/config";
import { TYPES, ofType, planWith, resource, revealed } from "../support/plan";
import type { PlanResult } from "../../cli/plan/runner";

const STANDBYS = { ...VALID, services: ["iam", "cloud"], standbys: 2, synchronousStandbys: 1 };
const SCRIPTS = path.join(__dirname, "..", "..", "..", "render", "scripts");

/** The env and mounts every server pod of a stack with standbys adds to its `postgres` container. */
function startEnv(role: string) {
    return [
        { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "SERVER_ROLE", value: role },
        { name: "PRIMARY_HOST", value: "postgres.hanzo.svc" },
        { name: "PRIMARY_PORT", value: "5432" },
        { name: "STANDBYS_HOST", value: "postgres-ro.hanzo.svc" },
        { name: "DECLARED_STANDBYS", value: "2" },
        { name: "REPLICATION_PGPASS", value: "/etc/hanzo-sql/replication/pgpass" },
        { name: "ADMIN_PGPASS", value: "/etc/hanzo-sql/admin/pgpass" },
        { name: "RUN_DIR", value: "/tmp" },
        { name: "CONFIG_FILE", value: "/etc/postgresql/postgresql.conf" },
        { name: "PODINFO_LABELS", value: "/etc/podinfo/labels" },
    ];
}
const START_MOUNTS = [
    { name: "replication-credentials", mountPath: "/etc/hanzo-sql/replication", readOnly: true },
    { name: "admin-pgpass", mountPath: "/etc/hanzo-sql/admin", readOnly: true },
    { name: "podinfo", mountPath: "/etc/podinfo", readOnly: true },
];
const START_VOLUMES = [
    {
        name: "replication-credentials",
        secret: { secretName: "postgres-replication", items: [{ key: "pgpass", path: "pgpass" }], defaultMode: 0o400 },
    },
    {
        name: "admin-pgpass",
        secret: { secretName: "postgres-credentials", items: [{ key: "pgpass", path: "pgpass" }], defaultMode: 0o400 },
    },
    { name: "podinfo", downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }] } },
];
const ROLE_READINESS = {
    exec: { command: ["bash", "/etc/postgresql/role-ready.sh"] },
    periodSeconds: 5,
    timeoutSeconds: 3,
    failureThreshold: 3,
};
const SERVER_ARGS = ["postgres", "-c", "config_file=/etc/postgresql/postgresql.conf", "-c", "hba_file=/etc/postgresql/pg_hba.conf"];

const inputsOf = (p: PlanResult, type: string, name: string) => resource(p, type, name).inputs as any;

describe("standbys: the Kubernetes objects", function () {
    this.timeout(120_000);
    let single: PlanResult;
    let standbys: PlanResult;
    before(async () => {
        single = await planWith("single", { ...VALID, services: ["iam", "cloud"] });
        standbys = await planWith("standbys", STANDBYS);
    });

    it("declares the standbys' objects only with standbys, and nothing else new", () => {
        const names = (p: PlanResult) => new Set(p.plan.resources.map((r) => r.name));
        const added = [...names(standbys)].filter((n) => !names(single).has(n)).sort();
        assert.deepStrictEqual(added, [
            "hanzo-sql-replication",
            "hanzo-sql-replication-role",
            "hanzo-sql-replication-role-password",
            "hanzo-sql-replication-role-salt",
            "hanzo-sql-replication-secret",
            "hanzo-sql-standbys",
            "hanzo-sql-standbys-data-claim-0",
            "hanzo-sql-standbys-data-claim-1",
            "hanzo-sql-standbys-read-service",
            "hanzo-sql-standbys-replication-egress",
            "hanzo-sql-standbys-service-account",
            "hanzo-sql-standbys-statefulset",
        ]);
        assert.deepStrictEqual(
            [...names(single)].filter((n) => !names(standbys).has(n)),
            [],
        );
    });

    it("the primary's StatefulSet keeps its name, labels, selector, serviceName and claim template (replace-forcing); its pod gains the start script", () => {
        const one = inputsOf(single, TYPES.statefulSet, "hanzo-sql-postgres-statefulset");
        const sts = inputsOf(standbys, TYPES.statefulSet, "hanzo-sql-postgres-statefulset");
        assert.deepStrictEqual(sts.metadata, one.metadata);
        for (const key of ["serviceName", "selector", "volumeClaimTemplates", "replicas", "podManagementPolicy", "updateStrategy"]) {
            assert.deepStrictEqual(sts.spec[key], one.spec[key], key);
        }
        assert.deepStrictEqual(sts.spec.template.metadata.labels, one.spec.template.metadata.labels);
        assert.strictEqual(sts.spec.template.metadata.labels["hanzo.ai/role"], "primary");
        const server = sts.spec.template.spec.containers[0];
        const before = one.spec.template.spec.containers[0];
        assert.deepStrictEqual(server.command, ["bash", "/etc/postgresql/replica-start.sh"]);
        assert.deepStrictEqual(server.args, ["docker-entrypoint.sh", ...SERVER_ARGS]);
        assert.deepStrictEqual(before.command, undefined);
        assert.deepStrictEqual(before.args, SERVER_ARGS);
        assert.deepStrictEqual(server.env, [...before.env, ...startEnv("primary")]);
        assert.deepStrictEqual(server.volumeMounts, [...before.volumeMounts, ...START_MOUNTS]);
        assert.deepStrictEqual(sts.spec.template.spec.volumes, [...one.spec.template.spec.volumes, ...START_VOLUMES]);
        assert.deepStrictEqual(server.readinessProbe, ROLE_READINESS);
        assert.deepStrictEqual(before.readinessProbe.exec.command, ["pg_isready", "-U", "hanzo", "-d", "postgres", "-h", "127.0.0.1"]);
        for (const key of ["startupProbe", "livenessProbe", "securityContext", "resources", "ports", "image"]) {
            assert.deepStrictEqual(server[key], before[key], key);
        }
        // The init container skips a standby's volume and commits locally (no standby can ack its ALTER ROLE).
        const init = sts.spec.template.spec.initContainers[0];
        const initBefore = one.spec.template.spec.initContainers[0];
        assert.deepStrictEqual(init.command.slice(0, 2), ["bash", "-c"]);
        assert.strictEqual(
            init.command[2],
            `if [ -e "$PGDATA/standby.signal" ]; then echo "apply-admin-password: a standby's volume; its roles are the primary's"; exit 0; fi\n${initBefore.command[2]}`,
        );
        assert.deepStrictEqual(init.env, [
            { name: "PGOPTIONS", value: "-c synchronous_commit=local -c search_path=pg_catalog,pg_temp" },
            { name: "DECLARED_STANDBYS", value: "2" },
            ...initBefore.env,
        ]);
    });

    it("the standbys' StatefulSet: the primary's pod with role standby, its own name, selector, ServiceAccount and governing Service", () => {
        const primary = inputsOf(standbys, TYPES.statefulSet, "hanzo-sql-postgres-statefulset");
        const sts = inputsOf(standbys, TYPES.statefulSet, "hanzo-sql-standbys-statefulset");
        const labels = {
            app: "postgres",
            "app.kubernetes.io/name": "postgresql",
            "app.kubernetes.io/instance": "postgres-standby",
            "app.kubernetes.io/part-of": "hanzo-sql",
        };
        assert.deepStrictEqual(sts.metadata, { name: "postgres-standby", namespace: "hanzo", labels });
        const { template, volumeClaimTemplates, ...spec } = sts.spec;
        assert.deepStrictEqual(spec, {
            serviceName: "postgres-ro",
            podManagementPolicy: "OrderedReady",
            revisionHistoryLimit: 10,
            replicas: 2,
            selector: { matchLabels: { app: "postgres", "app.kubernetes.io/instance": "postgres-standby" } },
            updateStrategy: { type: "RollingUpdate" },
            persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
        });
        assert.deepStrictEqual(volumeClaimTemplates, [
            {
                metadata: { name: "postgres-data", labels },
                spec: {
                    accessModes: ["ReadWriteOnce"],
                    storageClassName: "do-block-storage",
                    resources: { requests: { storage: "50Gi" } },
                },
            },
        ]);
        // The pod is the primary's but for its labels, ServiceAccount, role (no init container) and SERVER_ROLE.
        const expected = JSON.parse(JSON.stringify(primary.spec.template));
        expected.metadata.labels = { ...labels, "hanzo.ai/role": "standby" };
        expected.spec.serviceAccountName = "postgres-standby";
        delete expected.spec.initContainers;
        expected.spec.containers[0].env = expected.spec.containers[0].env.map((e: { name: string }) =>
            e.name === "SERVER_ROLE" ? { name: "SERVER_ROLE", value: "standby" } : e,
        );
        assert.deepStrictEqual(template, expected);
        assert.deepStrictEqual(inputsOf(standbys, TYPES.serviceAccount, "hanzo-sql-standbys-service-account"), {
            apiVersion: "v1",
            kind: "ServiceAccount",
            metadata: { name: "postgres-standby", namespace: "hanzo", labels },
            automountServiceAccountToken: false,
        });
        // Protected like the primary's: after a failover its pod holds the only live data.
        const r = resource(standbys, TYPES.statefulSet, "hanzo-sql-standbys-statefulset");
        assert.deepStrictEqual(
            [r.options.protect, r.options.retainOnDelete, r.options.ignoreChanges],
            [true, true, ["spec.volumeClaimTemplates"]],
        );
    });

    it("grows each standby's claim as the primary's", () => {
        for (const i of [0, 1]) {
            assert.deepStrictEqual(inputsOf(standbys, TYPES.pvcPatch, `hanzo-sql-standbys-data-claim-${i}`), {
                apiVersion: "v1",
                kind: "PersistentVolumeClaim",
                metadata: {
                    name: `postgres-data-postgres-standby-${i}`,
                    namespace: "hanzo",
                    annotations: { "pulumi.com/patchForce": "true" },
                },
                spec: { resources: { requests: { storage: "50Gi" } } },
            });
        }
    });

    it("postgres selects the primary's pod, postgres-ro the standbys' only", () => {
        const rw = inputsOf(standbys, TYPES.service, "hanzo-sql-postgres-service");
        const ro = inputsOf(standbys, TYPES.service, "hanzo-sql-standbys-read-service");
        assert.deepStrictEqual(rw.spec.selector, { app: "postgres", "hanzo.ai/role": "primary" });
        assert.deepStrictEqual(ro, {
            apiVersion: "v1",
            kind: "Service",
            metadata: {
                name: "postgres-ro",
                namespace: "hanzo",
                labels: {
                    app: "postgres",
                    "app.kubernetes.io/name": "postgresql",
                    "app.kubernetes.io/instance": "postgres-standby",
                    "app.kubernetes.io/part-of": "hanzo-sql",
                },
            },
            spec: {
                clusterIP: "None",
                selector: { app: "postgres", "hanzo.ai/role": "standby" },
                ports: [{ name: "postgresql", port: 5432, targetPort: "postgresql", protocol: "TCP" }],
            },
        });
    });

    it("lets server pods reach each other on 5432 (clones, streaming, pg_rewind); ingress is the server's policy's", () => {
        assert.deepStrictEqual(inputsOf(standbys, TYPES.networkPolicy, "hanzo-sql-standbys-replication-egress").spec, {
            podSelector: { matchLabels: { app: "postgres" } },
            policyTypes: ["Egress"],
            egress: [{ to: [{ podSelector: { matchLabels: { app: "postgres" } } }], ports: [{ protocol: "TCP", port: 5432 }] }],
        });
        // The server's ingress policy selects every server pod (app), primary and standbys, from the namespace.
        const ingress = inputsOf(standbys, TYPES.networkPolicy, "hanzo-sql-postgres-network-policy").spec;
        assert.deepStrictEqual(ingress.podSelector, { matchLabels: { app: "postgres" } });
        assert.deepStrictEqual(ingress.ingress[0], { from: [{ podSelector: {} }], ports: [{ protocol: "TCP", port: 5432 }] });
    });

    it("carries the start and readiness scripts in the server's ConfigMap, and pg_rewind's line in the administrator's Secret", () => {
        const data = inputsOf(standbys, TYPES.configMap, "hanzo-sql-postgres-config").data as Record<string, string>;
        const before = inputsOf(single, TYPES.configMap, "hanzo-sql-postgres-config").data as Record<string, string>;
        assert.deepStrictEqual(Object.keys(data).sort(), [...Object.keys(before), "replica-start.sh", "role-ready.sh"].sort());
        for (const f of ["replica-start.sh", "role-ready.sh"]) {
            assert.strictEqual(data[f], fs.readFileSync(path.join(SCRIPTS, f), "utf8"), f);
        }
        const secret = (p: PlanResult) =>
            revealed(p, resource(p, TYPES.secret, "hanzo-sql-postgres-credentials")).stringData as Record<string, string>;
        assert.deepStrictEqual(Object.keys(secret(single)).sort(), ["password", "scram-verifier", "username"]);
        const s = secret(standbys);
        assert.strictEqual(s.pgpass, `*:*:postgres:hanzo:${s.password}`);
        // The plan's view of it is a secret: never printed.
        assert.ok(!JSON.stringify(resource(standbys, TYPES.secret, "hanzo-sql-postgres-credentials").inputs).includes(s.password));
        assert.strictEqual(
            ofType(standbys, TYPES.secret).filter((r) => (r.inputs.metadata as any).name === "postgres-credentials").length,
            1,
        );
    });
});
