import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { PROJECT_DIR } from "../../cli/plan/stackFile";
import type { PlanResult } from "../../cli/plan/runner";
import { planWith } from "./plan";
import { PodNetwork, clusterNetwork } from "./pods";
import { S3Server } from "../harness/local/s3";
import { networkPolicies } from "../harness/pod/plan";

/**
 * The plan of hanzo-k8s as its stack file sets it, archiving (`pitrEnabled`, the server image) into a bucket
 * of your own at `url` whose certificate `ca` signed (`pitrEndpointCa`), with s3rver's key; `extra` keys on
 * top. What the pod tests of the archive (test/pods/pitr*.test.ts) run.
 */
export async function pitrPlanAt(url: string, ca: string, extra: Record<string, unknown> = {}): Promise<PlanResult> {
    const stackFile = yaml.load(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.hanzo-k8s.yaml"), "utf8")) as {
        config: Record<string, unknown>;
    };
    const values = Object.fromEntries(Object.entries(stackFile.config).map(([k, v]) => [k.replace(/^hanzo-sql:/, ""), v]));
    return planWith(
        "hanzo-k8s",
        {
            ...values,
            image: "ghcr.io/hanzoai/sql:16-bookworm",
            pitrEnabled: true,
            pitrEndpointCa: ca,
            backupEndpoint: url,
            backupAccessKeyId: "S3RVER",
            backupSecretAccessKey: "S3RVER",
            ...extra,
        },
        [
            "hanzo-sql:backupAccessKeyId",
            "hanzo-sql:backupSecretAccessKey",
            ...("adminPassword" in extra ? ["hanzo-sql:adminPassword"] : []),
        ],
    );
}

/** The backup bucket of hanzo-k8s, and the name its S3 API answers to in the pod network (a MinIO of your own). */
export const PITR_BUCKET = "hanzo-k8s-postgres-backups";
export const PITR_S3_NAME = "minio.minio.svc";

/**
 * The pod network of hanzo-k8s's archiving plan with s3rver over TLS as `https://minio.minio.svc` (a member of
 * namespace `minio`; its self-signed certificate given as pitrEndpointCa), every NetworkPolicy of the plan
 * enforced. The port is only known once s3rver listens, so a first plan (with a placeholder CA) lays out
 * the network.
 */
export async function archivingCluster(): Promise<{ network: PodNetwork; s3: S3Server; plan: PlanResult; minio: string }> {
    const dummyCa = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    const probe = await pitrPlanAt(`https://${PITR_S3_NAME}:9000`, dummyCa);
    const network = await clusterNetwork(probe);
    const minio = network.addMember({ namespace: "minio", labels: { app: "minio" }, ports: [] });
    network.addService("minio", "minio", minio);
    const s3 = await S3Server.start(PITR_BUCKET, minio, { tls: true, tlsName: PITR_S3_NAME });
    const plan = await pitrPlanAt(`https://${PITR_S3_NAME}:${s3.port}`, fs.readFileSync(s3.certFile!, "utf8"));
    network.enforce(networkPolicies(plan));
    return { network, s3, plan, minio };
}
