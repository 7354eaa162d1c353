import type { StackValidationPolicy } from "@pulumi/policy";
import type { IStatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import type { IPersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { parseQuantity } from "./standard/quantity";
import { ADOPTED_VOLUME_ANNOTATION, imageProblem } from "./standard/rules";
import { STANDARD_VOLUME_ENVIRONMENTS, STORAGE_CLASS, STORAGE_SIZE } from "./standard/storage";
import {
    Container,
    ENVIRONMENT_SCHEMA,
    EnvironmentConfig,
    T,
    WORKLOADS,
    configOf,
    k8s,
    environmentOf,
    k8sName,
    kindOf,
    known,
    list,
    ofType,
    plainStack,
    postgresServers,
    serverContainer,
    str,
} from "./lib";

export interface WorkloadConfig extends EnvironmentConfig {
    /** Storage class of the data volume in the environments below. */
    storageClass: string;
    /** Smallest data volume in the environments below. */
    minimumStorage: string;
    /** Environments held to the standard's volume; others only need a size and class set. */
    standardVolumeEnvironments: string[];
}

const DEFAULTS: WorkloadConfig = {
    storageClass: STORAGE_CLASS,
    minimumStorage: STORAGE_SIZE,
    standardVolumeEnvironments: [...STANDARD_VOLUME_ENVIRONMENTS],
};

/** The default data directory of the official images, when PGDATA is not set. */
const DEFAULT_PGDATA = "/var/lib/postgresql/data";

/**
 * workload-hardening: the PostgreSQL StatefulSet is built to survive real clusters (STANDARD §7, defects
 * 1, 5, 6, 7): PGDATA below the volume's mount point (a fresh volume holds lost+found, and initdb refuses a
 * non-empty directory; only a volume adopted from the seed, annotated hanzo.ai/adopted-volume, keeps its
 * PGDATA at the root), a startup probe (a liveness probe alone can kill a long crash recovery), a
 * memory-backed /dev/shm (64MB breaks parallel queries), CPU and memory requests and limits, pinned images
 * (never :latest), a non-root user, and a data volume of the standard's size and class (50Gi
 * do-block-storage in prod; configurable). Images are checked in every workload of the stack.
 */
export const workloadHardening: StackValidationPolicy = {
    name: "workload-hardening",
    description:
        "The PostgreSQL StatefulSet: PGDATA below the mount, startup probe, /dev/shm in memory, requests and limits, pinned images, non-root, standard data volume.",
    configSchema: {
        properties: {
            ...ENVIRONMENT_SCHEMA,
            storageClass: { type: "string", default: DEFAULTS.storageClass },
            minimumStorage: { type: "string", default: DEFAULTS.minimumStorage },
            standardVolumeEnvironments: { type: "array", items: { type: "string" }, default: DEFAULTS.standardVolumeEnvironments },
        },
    },
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const cfg = configOf<WorkloadConfig>(args, DEFAULTS);
        const env = environmentOf(args, cfg.environment);

        for (const w of args.resources.filter((r) => r.type in WORKLOADS)) {
            const pod = WORKLOADS[w.type](w.props);
            for (const c of [...list<Container>(pod?.spec?.initContainers), ...list<Container>(pod?.spec?.containers)]) {
                if (!known(c.image)) {
                    continue;
                }
                const problem = imageProblem(c.image ?? "");
                if (problem) {
                    report(`${kindOf(w.type)} "${k8sName(w)}" container "${c.name}" image "${c.image ?? ""}" ${problem}.`, w.urn);
                }
            }
        }

        for (const sts of postgresServers(args)) {
            const where = `StatefulSet "${k8sName(sts)}"`;
            const pod = WORKLOADS[sts.type](sts.props)!;
            const c = serverContainer(pod)!;
            const pgdataValue = c.env?.find((e) => e.name === "PGDATA")?.value;
            if (!known(pgdataValue)) {
                continue;
            }
            const pgdata = str(pgdataValue) ?? DEFAULT_PGDATA;
            const claims = list<IPersistentVolumeClaim>(k8s<IStatefulSet>(sts).spec?.volumeClaimTemplates);
            const mounts = c.volumeMounts ?? [];
            const dataMount = mounts
                .filter((m) => pgdata === m.mountPath || pgdata.startsWith(`${m.mountPath.replace(/\/$/, "")}/`))
                .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
            if (!dataMount) {
                report(`${where}: PGDATA ${pgdata} is on no volume; its data would be lost with the pod.`, sts.urn);
            } else if (
                dataMount.mountPath.replace(/\/$/, "") === pgdata.replace(/\/$/, "") &&
                sts.props?.metadata?.annotations?.[ADOPTED_VOLUME_ANNOTATION] !== "true"
            ) {
                report(
                    `${where}: PGDATA ${pgdata} is the volume's mount point; a fresh volume holds lost+found and initdb refuses it. Use a subdirectory such as ${pgdata.replace(/\/$/, "")}/pgdata.`,
                    sts.urn,
                );
            }
            if (!c.startupProbe) {
                report(
                    `${where}: container "${c.name}" has no startupProbe; without one the liveness probe can kill a long crash recovery.`,
                    sts.urn,
                );
            }
            const shm = mounts.find((m) => m.mountPath === "/dev/shm");
            const shmVolume = pod.spec?.volumes?.find((v) => v.name === shm?.name);
            if (!shm || shmVolume?.emptyDir?.medium !== "Memory") {
                report(
                    `${where}: no memory-backed volume at /dev/shm (containers get 64MB; parallel queries fail); mount an emptyDir with medium: Memory.`,
                    sts.urn,
                );
            }
            const missing = ["requests.cpu", "requests.memory", "limits.cpu", "limits.memory"].filter((k) => {
                const [kind, res] = k.split(".") as ["requests" | "limits", string];
                return !c.resources?.[kind]?.[res];
            });
            if (missing.length > 0) {
                report(`${where}: container "${c.name}" lacks resource ${missing.join(", ")}.`, sts.urn);
            }
            const nonRoot = (c.securityContext?.runAsNonRoot ?? pod.spec?.securityContext?.runAsNonRoot) === true;
            const uid = c.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser;
            if (!nonRoot || uid === 0) {
                report(
                    `${where}: container "${c.name}" may run as root; set runAsNonRoot: true and runAsUser: 999 (the postgres user).`,
                    sts.urn,
                );
            }
            const claim = claims.find((t) => t.metadata?.name === dataMount?.name);
            if (dataMount && !claim) {
                report(
                    `${where}: the data volume "${dataMount.name}" is not a volumeClaimTemplate; PGDATA needs a persistent volume per pod.`,
                    sts.urn,
                );
            } else if (claim) {
                const size = str(claim.spec?.resources?.requests?.storage);
                const cls = str(claim.spec?.storageClassName);
                if (!size || !cls) {
                    report(`${where}: the data volume "${claim.metadata?.name}" must state its size and storage class.`, sts.urn);
                } else if (env === undefined || cfg.standardVolumeEnvironments.includes(env)) {
                    if ((parseQuantity(size) ?? 0) < (parseQuantity(cfg.minimumStorage) ?? 0)) {
                        report(
                            `${where}: the data volume requests ${size}; the standard requires at least ${cfg.minimumStorage} in ${env ?? "this"} environment.`,
                            sts.urn,
                        );
                    }
                    if (cls !== cfg.storageClass) {
                        report(`${where}: the data volume uses storage class "${cls}"; the standard's is "${cfg.storageClass}".`, sts.urn);
                    }
                }
            }
        }
    },
};

/**
 * workload-identity: every workload (a Pod-bearing resource: StatefulSet, Deployment, CronJob, Job,
 * DaemonSet, ReplicaSet, Pod) runs as a ServiceAccount of its own, declared in the stack with
 * `automountServiceAccountToken: false`, and its pods mount no API token.
 *
 * Protects: a pod of the namespace's `default` ServiceAccount, or one that mounts a token, hands whoever
 * gets into it (a compromised exporter, a backup script) the Kubernetes API with that account's rights;
 * a ServiceAccount shared between workloads mixes their rights. The pod's field wins over the
 * ServiceAccount's when set (the ServiceAccount admission plugin, `shouldAutomount` in
 * kubernetes/kubernetes plugin/pkg/admission/serviceaccount/admission.go), so the pod's effective choice is
 * checked, and the ServiceAccount must say false too. Instead: one ServiceAccount per workload, both false.
 */
export const workloadIdentity: StackValidationPolicy = {
    name: "workload-identity",
    description: "Every workload runs as its own ServiceAccount with automountServiceAccountToken: false, and its pods mount no API token.",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const accounts = new Map(
            ofType(args, T.serviceAccount).map((a) => [`${a.props?.metadata?.namespace}/${a.props?.metadata?.name}`, a]),
        );
        const users = new Map<string, string>();
        for (const w of args.resources.filter((r) => r.type in WORKLOADS)) {
            const spec = WORKLOADS[w.type](w.props)?.spec;
            const name = spec?.serviceAccountName ?? spec?.serviceAccount;
            const podMount = spec?.automountServiceAccountToken;
            if (!spec || !known(name) || !known(podMount)) {
                continue;
            }
            const where = `${kindOf(w.type)} "${k8sName(w)}"`;
            if (name === undefined || name === "default") {
                report(
                    `${where} runs as the namespace's default ServiceAccount; give it its own (serviceAccountName) with automountServiceAccountToken: false.`,
                    w.urn,
                );
                continue;
            }
            const key = `${w.props?.metadata?.namespace}/${name}`;
            const account = accounts.get(key);
            if (!account) {
                report(
                    `${where} runs as ServiceAccount "${name}", which the stack does not declare; declare it with automountServiceAccountToken: false.`,
                    w.urn,
                );
            } else if (known(account.props?.automountServiceAccountToken) && account.props?.automountServiceAccountToken !== false) {
                report(
                    `${where}: its ServiceAccount "${name}" mounts an API token by default; set automountServiceAccountToken: false on it.`,
                    w.urn,
                );
            }
            if (podMount !== false) {
                report(
                    `${where} mounts an API token into its pods; set automountServiceAccountToken: false in the pod template (it wins over the ServiceAccount's).`,
                    w.urn,
                );
            }
            const first = users.get(key);
            if (first !== undefined) {
                report(`${where} shares ServiceAccount "${name}" with ${first}; give each workload its own.`, w.urn);
            } else {
                users.set(key, where);
            }
        }
    },
};
