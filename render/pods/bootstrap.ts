/**
 * The server pod's restore step of a stack bootstrapped from another stack's WAL archive (pitrBootstrapFrom,
 * docs/pitr.md "Into a new stack"; CloudNativePG's bootstrap.recovery): the `pitr-bootstrap` init container,
 * first in the pod, runs render/scripts/pitr-bootstrap.sh with the server image (it has pgBackRest and the
 * server). On an empty volume it restores the source's latest base backup and replays its WAL to the target;
 * a volume that holds a cluster is never touched, and one with stray files is refused. The server container
 * then starts on the restored cluster as on any other.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { ADMIN_ROLE } from "../../policies/standard/rules";
import { scriptsDir } from "../backup";
import { type PitrSpec, renderRestorePgbackrestConf } from "../pitr";
import { BucketKeys, bucketKeyEnv } from "./pitr";
import { hardenedContainer } from "../securityContext";

type Container = k8s.types.input.core.v1.Container;
type Volume = k8s.types.input.core.v1.Volume;

/** The script's file name (render/scripts/) and its key in the bootstrap ConfigMap. */
export const PITR_BOOTSTRAP_SCRIPT = "pitr-bootstrap.sh";
/** The source repository's pgbackrest.conf in the same ConfigMap (render/pitr.ts renderRestorePgbackrestConf). */
export const PITR_BOOTSTRAP_CONF = "pgbackrest-bootstrap.conf";
/** This stack's own repository's pgbackrest.conf in the same ConfigMap: the step asks it whether the stack has a history. */
export const PITR_BOOTSTRAP_OWN_CONF = "pgbackrest-own.conf";
/** Where that ConfigMap is mounted in the init container. */
export const PITR_BOOTSTRAP_DIR = "/etc/pitr-bootstrap";
/** The step's socket, log and pgBackRest spool (the pod's /tmp volume). */
export const PITR_BOOTSTRAP_RUN = "/tmp/pitr-bootstrap";

/** Where the restore stops: a time, an LSN, a named restore point, or the end of the archive (latest). */
export type BootstrapTarget =
    | { readonly type: "time"; readonly target: string }
    | { readonly type: "lsn"; readonly target: string }
    | { readonly type: "name"; readonly target: string }
    | { readonly type: "latest" };

export interface BootstrapInput extends BucketKeys {
    /** What it restores from, for the log and the mark left in PGDATA (`<bucket>/<prefix>`). */
    readonly source: string;
    readonly target: BootstrapTarget;
    /** ConfigMap with PITR_BOOTSTRAP_SCRIPT and PITR_BOOTSTRAP_CONF. */
    readonly configMap: pulumi.Input<string>;
}

/** What the init container shares with the server's: image, resources, PGDATA, the mounted configuration. */
export interface BootstrapServerInput {
    readonly image: string;
    readonly resources: k8s.types.input.core.v1.ResourceRequirements;
    readonly pgdata: string;
    /** The stack's rendered postgresql.conf (recovery runs with the stack's own settings). */
    readonly postgresqlConf: string;
    /** The server container's mounts of the data volume, the configuration, /dev/shm and /tmp. */
    readonly volumeMounts: k8s.types.input.core.v1.VolumeMount[];
    /** The standbys the stack declares: with some, a volume lost after the bootstrap is left to the start script's clone. */
    readonly standbys: number;
    /** With standbys: the `postgres` Service, which a primary must answer behind before the volume is left empty. */
    readonly primary?: { readonly host: string; readonly port: number };
}

/** The `pitr-bootstrap` init container. */
export function pitrBootstrapContainer(server: BootstrapServerInput, input: BootstrapInput): Container {
    return {
        name: "pitr-bootstrap",
        image: server.image,
        command: ["bash", `${PITR_BOOTSTRAP_DIR}/${PITR_BOOTSTRAP_SCRIPT}`],
        env: [
            { name: "PGDATA", value: server.pgdata },
            { name: "PG_CONFIG_FILE", value: server.postgresqlConf },
            { name: "BOOTSTRAP_CONFIG", value: `${PITR_BOOTSTRAP_DIR}/${PITR_BOOTSTRAP_CONF}` },
            { name: "BOOTSTRAP_OWN_CONFIG", value: `${PITR_BOOTSTRAP_DIR}/${PITR_BOOTSTRAP_OWN_CONF}` },
            { name: "BOOTSTRAP_STANDBYS", value: String(server.standbys) },
            ...(server.primary
                ? [
                      { name: "BOOTSTRAP_PRIMARY_HOST", value: server.primary.host },
                      { name: "BOOTSTRAP_PRIMARY_PORT", value: String(server.primary.port) },
                  ]
                : []),
            { name: "BOOTSTRAP_SOURCE", value: input.source },
            { name: "BOOTSTRAP_TARGET_TYPE", value: input.target.type },
            ...(input.target.type === "latest" ? [] : [{ name: "BOOTSTRAP_TARGET", value: input.target.target }]),
            { name: "BOOTSTRAP_SUPERUSER", value: ADMIN_ROLE },
            { name: "BOOTSTRAP_RUN", value: PITR_BOOTSTRAP_RUN },
            ...bucketKeyEnv(input),
        ],
        resources: server.resources,
        securityContext: hardenedContainer(),
        volumeMounts: [...server.volumeMounts, { name: "pitr-bootstrap", mountPath: PITR_BOOTSTRAP_DIR, readOnly: true }],
    };
}

/** The ConfigMap volume the init container mounts. */
export function pitrBootstrapVolume(input: BootstrapInput): Volume {
    return { name: "pitr-bootstrap", configMap: { name: input.configMap, defaultMode: 0o555 } };
}

/** The endpoint's private CA in the same ConfigMap, when the stack has one (pitrEndpointCa). */
export const PITR_BOOTSTRAP_CA = "endpoint-ca.crt";
/** pgBackRest's spool and lock directory of the restore (the pod's /tmp volume; the script empties BOOTSTRAP_RUN). */
export const PITR_BOOTSTRAP_SPOOL = `${PITR_BOOTSTRAP_RUN}-spool`;

/**
 * The bootstrap ConfigMap's files: the script, and the source repository's pgbackrest.conf — the stack's own
 * repository options (endpoint, region, URI style, CA) with the source's bucket and path, rendered by
 * render/pitr.ts renderRestorePgbackrestConf (one source with the drill's), restoring beside PGDATA.
 */
export function pitrBootstrapFiles(
    archive: PitrSpec,
    source: { readonly bucket: string; readonly path: string },
    endpointCa?: string,
): Record<string, string> {
    const ca = endpointCa !== undefined && archive.repo.caFile !== undefined;
    const own = { ...archive.repo, ...(ca ? { caFile: `${PITR_BOOTSTRAP_DIR}/${PITR_BOOTSTRAP_CA}` } : {}) };
    const conf = (repo: PitrSpec["repo"]) =>
        renderRestorePgbackrestConf({ ...archive, repo }, { pgdata: `${archive.pgdata}.bootstrap`, spoolPath: PITR_BOOTSTRAP_SPOOL });
    return {
        [PITR_BOOTSTRAP_SCRIPT]: fs.readFileSync(path.join(scriptsDir(), PITR_BOOTSTRAP_SCRIPT), "utf8"),
        [PITR_BOOTSTRAP_CONF]: conf({ ...own, bucket: source.bucket, prefix: source.path }),
        [PITR_BOOTSTRAP_OWN_CONF]: conf(own),
        ...(ca ? { [PITR_BOOTSTRAP_CA]: endpointCa } : {}),
    };
}
