/**
 * The pod-runner fixture the pod tests of a stack's plan share: a cluster network (DNS stand-in, the plan's
 * NetworkPolicies), an S3 API standing in for MinIO as a member of namespace `minio` (plain, or over TLS for the
 * archive), the pods of the plan's workloads started as declared, fresh volumes, and one teardown for all of them.
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { S3Server } from "../harness/local/s3";
import { namespaceData, networkPolicies, workload } from "../harness/pod/plan";
import type { PodSpec } from "../harness/pod/runner";
import { PROJECT_DIR } from "../../cli/plan/stackFile";
import type { PlanResult } from "../../cli/plan/runner";
import { planWith } from "./plan";
import { PersistentVolume, Pod, PodNetwork, clusterNetwork, runServicePod, startServerPod } from "./pods";

/** The config values of Pulumi.<stack>.yaml, keys without the project's `hanzo-sql:` prefix. */
export function stackFileValues(stack = "hanzo-k8s"): Record<string, unknown> {
    const stackFile = yaml.load(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8")) as {
        config: Record<string, unknown>;
    };
    return Object.fromEntries(Object.entries(stackFile.config).map(([k, v]) => [k.replace(/^hanzo-sql:/, ""), v]));
}

/**
 * The plan of hanzo-k8s as its stack file configures it, with `extra` values, the bucket at `url` and s3rver's
 * access key as the bucket's keys (secret, as `pulumi config set --secret` makes them); `secretKeys` marks more
 * keys of `extra` secret.
 */
export function planWithBucket(url: string, extra: Record<string, unknown> = {}, secretKeys: string[] = []): Promise<PlanResult> {
    return planWith(
        "hanzo-k8s",
        { ...stackFileValues(), ...extra, backupEndpoint: url, backupAccessKeyId: "S3RVER", backupSecretAccessKey: "S3RVER" },
        ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey", ...secretKeys],
    );
}

/** The backup bucket of hanzo-k8s, and the name its S3 API answers to in the pod network (a MinIO of your own). */
export const BACKUP_BUCKET = "hanzo-k8s-postgres-backups";
export const MINIO_NAME = "minio.minio.svc";

/**
 * planWithBucket archiving (`pitrEnabled`, the server image) into the bucket at `url`, whose certificate `ca`
 * signed (`pitrEndpointCa`); `extra` keys on top, `secretKeys` as planWithBucket's.
 */
export function pitrPlanWithBucket(
    url: string,
    ca: string,
    extra: Record<string, unknown> = {},
    secretKeys: string[] = [],
): Promise<PlanResult> {
    return planWithBucket(url, { image: "ghcr.io/hanzoai/sql:16-bookworm", pitrEnabled: true, pitrEndpointCa: ca, ...extra }, secretKeys);
}

/** A plan's pods on one cluster network; whatever it starts, `destroy` stops and removes. */
export class PodCluster {
    readonly pods: Pod[] = [];
    readonly volumes: PersistentVolume[] = [];
    /** The S3 API (`minio` in namespace `minio`), once `startMinio` ran. */
    s3?: S3Server;
    /** The S3 API's member address. */
    minio = "";
    /** The bucket's endpoint as a plan names it (`http(s)://minio.minio.svc:<port>`), once `startMinio` ran. */
    endpoint = "";
    /** The S3 API's self-signed certificate (PEM) when it serves TLS, else "". */
    ca = "";

    private constructor(readonly network: PodNetwork) {}

    /** A cluster network with `plan`'s NetworkPolicies enforced (a first plan: the policies may change with `enforce`). */
    static async start(plan: PlanResult): Promise<PodCluster> {
        return new PodCluster(await clusterNetwork(plan));
    }

    /**
     * A cluster whose plan names a bucket of its own: the port is only known once s3rver listens, so a first plan
     * (`planAt` at port 9000, a placeholder CA) lays out the network; then s3rver serves `bucket` as `minio` (over
     * TLS as minio.minio.svc with `tls`), and the plan at its endpoint (`planAt(endpoint, ca)`) has its
     * NetworkPolicies enforced. On a failure on the way, what was started is destroyed.
     */
    static async withMinio(
        bucket: string,
        planAt: (endpoint: string, ca: string) => Promise<PlanResult>,
        opts: { tls?: boolean } = {},
    ): Promise<{ cluster: PodCluster; plan: PlanResult }> {
        const scheme = opts.tls ? "https" : "http";
        const placeholderCa = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        const cluster = await PodCluster.start(await planAt(`${scheme}://${MINIO_NAME}:9000`, placeholderCa));
        try {
            const s3 = await cluster.startMinio(bucket, opts.tls ? { tls: true, tlsName: MINIO_NAME } : {});
            cluster.endpoint = `${scheme}://${MINIO_NAME}:${s3.port}`;
            cluster.ca = opts.tls ? fs.readFileSync(s3.certFile!, "utf8") : "";
            const plan = await planAt(cluster.endpoint, cluster.ca);
            cluster.enforce(plan);
            return { cluster, plan };
        } catch (e) {
            await cluster.destroy();
            throw e;
        }
    }

    /** hanzo-k8s archiving into BACKUP_BUCKET over TLS (pitrPlanWithBucket with `extra`, `secretKeys`): withMinio. */
    static archiving(extra: Record<string, unknown> = {}, secretKeys: string[] = []): Promise<{ cluster: PodCluster; plan: PlanResult }> {
        return PodCluster.withMinio(BACKUP_BUCKET, (url, ca) => pitrPlanWithBucket(url, ca, extra, secretKeys), { tls: true });
    }

    /** Adds every Service of `plan` to the DNS stand-in, answering from its selector. */
    addPlanServices(plan: PlanResult): void {
        for (const r of plan.plan.resources.filter((x) => x.type === "kubernetes:core/v1:Service")) {
            const s = plan.revealed.get(r.urn) as {
                metadata: { name: string; namespace: string };
                spec: { selector: Record<string, string> };
            };
            this.network.addSelectorService(s.metadata.name, s.metadata.namespace, s.spec.selector);
        }
    }

    /** Enforces `plan`'s NetworkPolicies in every pod, in place of the ones before. */
    enforce(plan: PlanResult): void {
        this.network.enforce(networkPolicies(plan));
    }

    /** s3rver with `bucket` as member `minio` of namespace `minio` (labels app=minio), answering `minio.minio.svc`. */
    async startMinio(bucket: string, opts: { tls?: boolean; tlsName?: string } = {}): Promise<S3Server> {
        this.minio = this.network.addMember({ namespace: "minio", labels: { app: "minio" }, ports: [] });
        this.network.addService("minio", "minio", this.minio);
        this.s3 = await S3Server.start(bucket, this.minio, opts);
        return this.s3;
    }

    /** A fresh volume, removed at `destroy`. */
    volume(): PersistentVolume {
        const v = PersistentVolume.fresh();
        this.volumes.push(v);
        return v;
    }

    /** A pod, stopped at `destroy`. */
    track(pod: Pod): Pod {
        this.pods.push(pod);
        return pod;
    }

    /**
     * The server's StatefulSet `name` run as its pod `<name>-0` (not awaited Ready) on `volume` (by default a fresh
     * one), answering the Services `services` (by default the StatefulSet's name; `[]`: the DNS stand-in's selectors).
     */
    async startServer(
        plan: PlanResult,
        name = "postgres",
        opts: { volume?: PersistentVolume; services?: readonly string[] } = {},
    ): Promise<Pod> {
        return this.track(await startServerPod(plan, this.network, opts.volume ?? this.volume(), name, opts.services));
    }

    /** Pod `<name>-0` of the plan's Deployment `name`, as declared (not awaited Ready). */
    startDeployment(plan: PlanResult, name: string): Promise<Pod> {
        return this.startPod(plan, "Deployment", name, `${name}-0`);
    }

    /** One Job's pod `podName` of the plan's CronJob `cronJob`, as declared (its init containers run to their end first). */
    startJob(plan: PlanResult, cronJob: string, podName: string): Promise<Pod> {
        return this.startPod(plan, "CronJob", cronJob, podName);
    }

    /** Pod `podName` of the plan's workload `name` (no volumes), its template's labels. */
    private async startPod(plan: PlanResult, kind: "Deployment" | "CronJob", name: string, podName: string): Promise<Pod> {
        const w = workload(plan, kind, name);
        const { secrets, configMaps } = namespaceData(plan, w.namespace);
        return this.track(
            await Pod.start({
                name: podName,
                namespace: w.namespace,
                spec: w.spec,
                network: this.network,
                secrets,
                configMaps,
                labels: w.labels,
            }),
        );
    }

    /**
     * A pod of the service `service` (labels app=<service>, in `namespace`, by default the Secret's) running `script`
     * with sh in the server's client image, its Secret `<service>-database` of namespace hanzo as its environment;
     * its exit status and output once it ends (then it is stopped).
     */
    runServicePod(plan: PlanResult, service: string, script: string, namespace = "hanzo"): Promise<{ status: number; out: string }> {
        return runServicePod(plan, this.network, service, script, namespace, (pod) => this.track(pod));
    }

    /**
     * A pod with `labels` (so the policies that select them apply) running the CronJob's first container's image and
     * mounts with no init containers, whose one container `probe` only waits: connections are tried from inside it.
     */
    async startProbe(plan: PlanResult, cronJob: string, name: string, labels: Record<string, string>): Promise<Pod> {
        const w = workload(plan, "CronJob", cronJob);
        const spec: PodSpec = {
            ...w.spec,
            initContainers: [],
            containers: [{ ...w.spec.containers[0], name: "probe", command: ["sleep", "120"] }],
        };
        const { secrets, configMaps } = namespaceData(plan, w.namespace);
        return this.track(await Pod.start({ name, namespace: w.namespace, spec, network: this.network, secrets, configMaps, labels }));
    }

    /** Stops every pod (the last started first), the S3 API and the network; removes the volumes. */
    async destroy(): Promise<void> {
        for (const p of this.pods.reverse()) {
            await p.stop(5).catch(() => undefined);
        }
        await this.s3?.stop();
        this.network.destroy();
        this.volumes.forEach((v) => v.remove());
    }
}
