/**
 * What a server pod of a stack with standbys adds to the pod render/pods/server.ts builds (docs/standbys.md): the
 * start script before the image's entrypoint (render/scripts/replica-start.sh), its environment, the replication
 * Secret's and the administrator's pgpass lines, the role label, and a readiness probe that checks the server
 * serves as that label says (render/scripts/role-ready.sh). Pure, like server.ts; the same for the primary's pod
 * and the standbys' (only `role` differs), so a promoted standby needs nothing new.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { PGPASS_KEY, ROLE_LABEL } from "../../policies/standard/replication";
import { PRIVILEGED_PG_OPTIONS } from "../privilegedSession";
export { PGPASS_KEY };
import { SERVER_CONFIG_FILES, START_SCRIPT, startArgs, startCommand } from "../../policies/standard/serverPod";

type EnvVar = k8s.types.input.core.v1.EnvVar;
type Probe = k8s.types.input.core.v1.Probe;
type Volume = k8s.types.input.core.v1.Volume;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;

/** The readiness script, carried by the server's ConfigMap beside the start script. */
export const ROLE_READY_SCRIPT = "role-ready.sh";
/** Where the downward API's `labels` file is mounted (the role label, kept current by the kubelet). */
export const PODINFO_DIR = "/etc/podinfo";
/** Where the replication Secret's `pgpass` line is mounted. */
export const REPLICATION_PGPASS_DIR = "/etc/hanzo-sql/replication";
/** Where the administrator's `pgpass` line is mounted (pg_rewind reads the new primary's files as the administrator). */
export const ADMIN_PGPASS_DIR = "/etc/hanzo-sql/admin";

/** What a server pod needs to know in a stack with standbys. */
export interface ReplicationPodInput {
    /** The primary's in-cluster name (the `postgres` Service): standbys clone and stream from whatever it selects. */
    readonly primaryHost: string;
    /** The read Service's in-cluster name (`postgres-ro`): it resolves while a standby is Ready (the start script's first-boot test). */
    readonly standbysHost: string;
    /** The stack's `standbys`: the slots of ordinals at or past it are dropped (render/scripts/replica-start.sh, render/adminPassword.ts). */
    readonly standbys: number;
    /** The replication Secret (`pgpass`). */
    readonly replicationSecret: pulumi.Input<string>;
}

/** render/scripts, from the sources (ts-node, the policy pack) or from the build (build/render/). */
function scriptsDir(): string {
    const candidates = [path.join(__dirname, "..", "scripts"), path.join(__dirname, "..", "..", "..", "render", "scripts")];
    const found = candidates.find((d) => fs.existsSync(path.join(d, START_SCRIPT)));
    if (found === undefined) {
        throw new Error(`the start scripts are not in ${candidates.join(" or ")}`);
    }
    return found;
}

/** The two scripts, by the file names the server's ConfigMap carries them under. */
export function replicationScripts(): Record<string, string> {
    const dir = scriptsDir();
    return Object.fromEntries([START_SCRIPT, ROLE_READY_SCRIPT].map((f) => [f, fs.readFileSync(path.join(dir, f), "utf8")]));
}

/** The role label of a server pod: the Services select on it, the procedure relabels it (docs/standbys.md). */
export function roleLabel(role: "primary" | "standby"): Record<string, string> {
    return { [ROLE_LABEL]: role };
}

/** The server container's command and args: the start script, then the image's entrypoint with the server's args. */
export function startContainerArgs(configDir: string): { command: string[]; args: string[] } {
    return { command: startCommand(configDir), args: startArgs(configDir) };
}

/** The start script's environment (render/scripts/replica-start.sh's header) and the probe's. */
export function replicationEnv(
    role: "primary" | "standby",
    input: ReplicationPodInput,
    port: number,
    configDir: string,
    runDir: string,
): EnvVar[] {
    return [
        { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "SERVER_ROLE", value: role },
        { name: "PRIMARY_HOST", value: input.primaryHost },
        { name: "PRIMARY_PORT", value: String(port) },
        { name: "STANDBYS_HOST", value: input.standbysHost },
        { name: "DECLARED_STANDBYS", value: String(input.standbys) },
        { name: "REPLICATION_PGPASS", value: `${REPLICATION_PGPASS_DIR}/${PGPASS_KEY}` },
        { name: "ADMIN_PGPASS", value: `${ADMIN_PGPASS_DIR}/${PGPASS_KEY}` },
        { name: "RUN_DIR", value: runDir },
        { name: "CONFIG_FILE", value: `${configDir}/${SERVER_CONFIG_FILES.config}` },
        { name: "PODINFO_LABELS", value: `${PODINFO_DIR}/labels` },
    ];
}

/** The server container's mounts of the pgpass lines and the labels file. */
export function replicationMounts(): VolumeMount[] {
    return [
        { name: "replication-credentials", mountPath: REPLICATION_PGPASS_DIR, readOnly: true },
        { name: "admin-pgpass", mountPath: ADMIN_PGPASS_DIR, readOnly: true },
        { name: "podinfo", mountPath: PODINFO_DIR, readOnly: true },
    ];
}

/** The pod's volumes for them: one key of each Secret (0400; 0440 with the pod's fsGroup), the labels file. */
export function replicationVolumes(input: ReplicationPodInput, adminSecret: pulumi.Input<string>): Volume[] {
    return [
        {
            name: "replication-credentials",
            secret: { secretName: input.replicationSecret, items: [{ key: PGPASS_KEY, path: PGPASS_KEY }], defaultMode: 0o400 },
        },
        { name: "admin-pgpass", secret: { secretName: adminSecret, items: [{ key: PGPASS_KEY, path: PGPASS_KEY }], defaultMode: 0o400 } },
        { name: "podinfo", downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }] } },
    ];
}

/** Readiness: the server answers and serves as its role label says (render/scripts/role-ready.sh). */
export function roleReadinessProbe(configDir: string): Probe {
    return {
        exec: { command: ["bash", `${configDir}/${ROLE_READY_SCRIPT}`] },
        periodSeconds: 5,
        timeoutSeconds: 3,
        failureThreshold: 3,
    };
}

/**
 * The apply-admin-password init container in a stack with standbys: it does nothing on a standby's volume
 * (`standby.signal`: the server would start in recovery and refuse ALTER ROLE; a standby's roles are its
 * primary's), and its session commits locally (`synchronous_commit = local` through PGOPTIONS): the server it
 * starts listens on no address, so no standby could ever acknowledge a synchronous commit and ALTER ROLE would
 * wait forever under `synchronousStandbys`. PGOPTIONS also carries the privileged search_path (pg_catalog, pg_temp), as
 * every privileged session's (render/privilegedSession.ts): PGOPTIONS replaces what the container would otherwise have.
 */
export function standbyAwareAdminPassword(script: string, standbys: number): { command: string[]; env: EnvVar[] } {
    const skip = `if [ -e "$PGDATA/standby.signal" ]; then echo "apply-admin-password: a standby's volume; its roles are the primary's"; exit 0; fi`;
    return {
        command: ["bash", "-c", `${skip}\n${script}`],
        env: [
            { name: "PGOPTIONS", value: `-c synchronous_commit=local ${PRIVILEGED_PG_OPTIONS}` },
            { name: "DECLARED_STANDBYS", value: String(standbys) },
        ],
    };
}
