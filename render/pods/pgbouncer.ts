/**
 * PgBouncer's pod and Deployment, built from plain typed inputs. No resource is created here
 * (components/pooler.ts wires them).
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { PGBOUNCER_PORT } from "../pgbouncer";
import { hardenedContainer, hardenedPod } from "../securityContext";
import { podIdentity } from "./identity";
import { CONFIG_CHECKSUM_ANNOTATION } from "../checksum";

/** uid/gid of `postgres` in the PgBouncer image (alpine's postgres user). */
export const PGBOUNCER_UID = 70;
/** Where the userlist Secret is mounted, and its file. */
export const PGBOUNCER_AUTH_DIR = "/etc/pgbouncer/auth";
export const PGBOUNCER_AUTH_FILE = `${PGBOUNCER_AUTH_DIR}/userlist.txt`;

/** What the pooler's pod is made of. */
export interface PgbouncerPodInput {
    readonly labels: Readonly<Record<string, string>>;
    readonly image: string;
    /** Checksums of pgbouncer.ini and of the userlist, which roll the pods when they change. */
    readonly configChecksum: string;
    readonly userlistChecksum: pulumi.Input<string>;
    readonly serviceAccountName: pulumi.Input<string>;
    /** ConfigMap with pgbouncer.ini, Secret with userlist.txt. */
    readonly configMap: pulumi.Input<string>;
    readonly userlistSecret: pulumi.Input<string>;
}

/** The pooler's pod template. */
export function pgbouncerPod(input: PgbouncerPodInput): k8s.types.input.core.v1.PodTemplateSpec {
    return {
        metadata: {
            labels: { ...input.labels },
            annotations: {
                [CONFIG_CHECKSUM_ANNOTATION]: input.configChecksum,
                "hanzo.ai/userlist-checksum": input.userlistChecksum,
            },
        },
        spec: {
            // fsGroup: the kubelet gives the userlist's files group 70 (root-owned, 0440), so PgBouncer (uid 70)
            // can read them and nobody else; without it they stay root:root 0400 and every client fails SASL
            // while the tcpSocket probe passes.
            ...podIdentity(input.serviceAccountName),
            securityContext: hardenedPod(PGBOUNCER_UID, "always"),
            containers: [
                {
                    name: "pgbouncer",
                    image: input.image,
                    command: ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"],
                    ports: [{ name: "pgbouncer", containerPort: PGBOUNCER_PORT, protocol: "TCP" }],
                    readinessProbe: { tcpSocket: { port: "pgbouncer" }, periodSeconds: 5 },
                    livenessProbe: { tcpSocket: { port: "pgbouncer" }, periodSeconds: 15, failureThreshold: 4 },
                    resources: { requests: { cpu: "50m", memory: "32Mi" }, limits: { cpu: "1", memory: "256Mi" } },
                    securityContext: hardenedContainer(),
                    volumeMounts: [
                        {
                            name: "config",
                            mountPath: "/etc/pgbouncer/pgbouncer.ini",
                            subPath: "pgbouncer.ini",
                            readOnly: true,
                        },
                        { name: "auth", mountPath: PGBOUNCER_AUTH_DIR, readOnly: true },
                    ],
                },
            ],
            volumes: [
                { name: "config", configMap: { name: input.configMap } },
                { name: "auth", secret: { secretName: input.userlistSecret, defaultMode: 0o440 } },
            ],
        },
    };
}

/** The pooler's Deployment spec: `replicas` of pgbouncerPod selected by `selector`. */
export function pgbouncerDeployment(
    input: PgbouncerPodInput & { readonly replicas: number; readonly selector: Readonly<Record<string, string>> },
): k8s.types.input.apps.v1.DeploymentSpec {
    return {
        replicas: input.replicas,
        selector: { matchLabels: { ...input.selector } },
        template: pgbouncerPod(input),
    };
}
