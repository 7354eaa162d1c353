/** Pod-runner helpers for the tests: a plan's workload started as a pod, the plan's roles created in it. */
import { spawnSync } from "child_process";
import { Client } from "pg";
import { PG_BIN } from "../harness/pg/server";
import { namespaceData, networkPolicies, workload } from "../harness/pod/plan";
import { PersistentVolume, Pod, PodNetwork, PodSpec, RunningContainer } from "../harness/pod/runner";
import type { PlanResult } from "../../cli/plan/runner";
import { passwordVariable, renderInitSql } from "../../cli/sql/initSql";
import { untilValue } from "./until";

export { PersistentVolume, Pod, PodNetwork };

/**
 * A pod network as a cluster of the plan would be: the cluster DNS stand-in (kube-dns in kube-system)
 * answering the Services' names, and every NetworkPolicy of the plan enforced in every pod.
 */
export async function clusterNetwork(plan: PlanResult): Promise<PodNetwork> {
    const network = PodNetwork.create();
    try {
        await network.serveDns();
        network.enforce(networkPolicies(plan));
    } catch (e) {
        network.destroy();
        throw e;
    }
    return network;
}

/**
 * Does a TCP connection from inside a container to host:port succeed within `seconds`? (bash's /dev/tcp,
 * the name resolved by the container's resolver.) A connection a NetworkPolicy drops times out.
 */
export async function canConnect(container: RunningContainer, host: string, port: number, seconds = 3): Promise<boolean> {
    const r = await container.exec(["timeout", String(seconds), "bash", "-c", `exec 3<>/dev/tcp/${host}/${port}`], (seconds + 5) * 1000);
    return r.status === 0;
}

/**
 * The server's StatefulSet run as its pod `<name>-0` on a volume (its claim template's name → the volume), the
 * Service `services` (by default the StatefulSet's name) answering with its address; `[]` leaves the Services to
 * the DNS stand-in's selectors.
 */
export async function startServerPod(
    plan: PlanResult,
    network: PodNetwork,
    volume: PersistentVolume,
    name = "postgres",
    services: readonly string[] = [name],
): Promise<Pod> {
    const w = workload(plan, "StatefulSet", name);
    const { secrets, configMaps } = namespaceData(plan, w.namespace);
    const claims = Object.fromEntries(w.claimTemplates.map((t) => [t, volume]));
    return Pod.start({
        name: `${w.name}-0`,
        namespace: w.namespace,
        spec: w.spec,
        network,
        secrets,
        configMaps,
        claims,
        services,
        labels: w.labels,
    });
}

/** A plan's Secret, values revealed. */
export function secretOf(plan: PlanResult, namespace: string, name: string): Record<string, string> {
    const s = namespaceData(plan, namespace).secrets.get(name);
    if (!s) {
        throw new Error(`plan ${plan.plan.stack} has no Secret ${namespace}/${name}`);
    }
    return s;
}

/**
 * Each login role's password as the plan's Secrets carry it to its consumers (the server is only ever given
 * verifiers): `username`/`password`, `DB_USER`/`DB_PASSWORD` or `PGUSER`/`PGPASSWORD` pairs.
 */
export function rolePasswords(plan: PlanResult): Record<string, string> {
    const out: Record<string, string> = {};
    for (const r of plan.plan.resources.filter((x) => x.type === "kubernetes:core/v1:Secret")) {
        const inputs = plan.revealed.get(r.urn) as { metadata: { namespace: string; name: string } };
        const data = namespaceData(plan, inputs.metadata.namespace).secrets.get(inputs.metadata.name) ?? {};
        for (const [user, password] of [
            ["username", "password"],
            ["DB_USER", "DB_PASSWORD"],
            ["PGUSER", "PGPASSWORD"],
        ]) {
            if (data[user] !== undefined && data[password] !== undefined) {
                out[data[user]] = data[password];
            }
        }
    }
    return out;
}

/**
 * What `pulumi up` does once the server is ready: the plan's roles, databases, grants and extensions, as one
 * psql script (npm run init-sql) run as the superuser over the pod network (SCRAM, from the bridge's address,
 * inside the 10.0.0.0/8 pg_hba.conf admits), then each role given the very verifier its Role carries (as the
 * postgresql provider does; init-sql salts its own), which PgBouncer's userlist shares.
 */
export function applyInitSql(plan: PlanResult, pod: Pod, adminPassword: string, port = 5432, extraEnv: Record<string, string> = {}): void {
    const env: Record<string, string> = {};
    for (const [role, pw] of Object.entries(rolePasswords(plan))) {
        env[passwordVariable(role)] = pw;
    }
    const verifiers = plan.plan.resources
        .filter((r) => r.type === "postgresql:index/role:Role")
        .map((r) => plan.revealed.get(r.urn) as { name: string; password?: string })
        .filter((r) => r.password !== undefined)
        .map((r) => `ALTER ROLE "${r.name}" PASSWORD '${r.password}';`);
    const r = spawnSync(
        `${PG_BIN}/psql`,
        ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pod.ip, "-p", String(port), "-U", "hanzo", "-d", "postgres", "-f", "-"],
        {
            input: [renderInitSql(plan.plan, { passwords: "env", env }), ...verifiers, ""].join("\n"),
            encoding: "utf8",
            env: { PATH: process.env.PATH, ...env, ...extraEnv, PGPASSWORD: adminPassword, PGSSLMODE: "disable" },
        },
    );
    if (r.status !== 0) {
        throw new Error(`init SQL failed (exit ${r.status}): ${r.stderr}`);
    }
}

/** A client connected to a pod's server over the pod network. */
export async function connectTo(host: string, port: number, user: string, password: string, database: string): Promise<Client> {
    const c = new Client({ host, port, user, password, database, connectionTimeoutMillis: 10_000 });
    c.on("error", () => undefined);
    await c.connect();
    return c;
}

/**
 * Ready by its probes, probed as the kubelet does every period (one slow probe under load is not a failure), within
 * `seconds`; the last probe's detail in the error.
 */
export async function readyAgain(pod: Pod, seconds = 60): Promise<void> {
    let last = "";
    await untilValue(
        `${pod.name} Ready`,
        async () => {
            const r = await pod.checkReady();
            last = r.detail;
            return r.ready ? true : undefined;
        },
        seconds,
    ).catch((e) => {
        throw new Error(`${(e as Error).message}: ${last}`);
    });
}

/**
 * A pod of the service `service` (labels app=<service>, in `namespace`, by default the Secret's) running `script`
 * with sh in the server's client image, its Secret `<service>-database` of namespace hanzo as its environment;
 * its exit status and output once it ends (then it is stopped). `track` gets the pod as soon as it exists.
 */
export async function runServicePod(
    plan: PlanResult,
    network: PodNetwork,
    service: string,
    script: string,
    namespace = "hanzo",
    track: (pod: Pod) => void = () => undefined,
): Promise<{ status: number; out: string }> {
    const { secrets, configMaps } = namespaceData(plan, "hanzo");
    const spec: PodSpec = {
        restartPolicy: "Never",
        securityContext: { runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true },
        containers: [
            {
                name: "app",
                image: "postgres:16.4-bookworm",
                command: ["sh", "-c", script],
                envFrom: [{ secretRef: { name: `${service}-database` } }],
                securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
            },
        ],
    };
    const pod = await Pod.start({ name: `${service}-app`, namespace, spec, network, secrets, configMaps, labels: { app: service } });
    track(pod);
    const status = (await pod.waitCompleted(60_000)).app;
    const out = pod.container("app").logs().trim();
    await pod.stop(1);
    return { status, out };
}
