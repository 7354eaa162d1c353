/**
 * The hardened security contexts of every workload of the program: each meets the Pod Security Standards'
 * "restricted" profile (test/pods/podSecurity.test.ts checks every pod of the plan against it) and runs as
 * the image's own non-root user.
 */

/** Every container: no privilege escalation, a read-only root filesystem, non-root, no capabilities. */
export function hardenedContainer(): {
    allowPrivilegeEscalation: false;
    readOnlyRootFilesystem: true;
    runAsNonRoot: true;
    capabilities: { drop: string[] };
} {
    return { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } };
}

/** How the kubelet gives the pod's volumes to its group. */
export type FsGroup =
    /** Volumes owned by the pod's gid (so Secret files of mode 0440 are readable by the user, and no one else). */
    | "always"
    /** The same, but the kubelet changes ownership only when the volume's root does not match (large volumes). */
    | "onRootMismatch"
    /** No fsGroup: the volume's files keep their owner (a data directory adopted as it is). */
    | "none";

/** The pod: user and group `uid`, non-root, the runtime's default seccomp profile, and the volumes' group. */
export function hardenedPod(
    uid: number,
    fsGroup: FsGroup,
): {
    runAsUser: number;
    runAsGroup: number;
    runAsNonRoot: true;
    fsGroup?: number;
    fsGroupChangePolicy?: "OnRootMismatch";
    seccompProfile: { type: "RuntimeDefault" };
} {
    return {
        runAsUser: uid,
        runAsGroup: uid,
        runAsNonRoot: true,
        ...(fsGroup === "none" ? {} : { fsGroup: uid }),
        ...(fsGroup === "onRootMismatch" ? { fsGroupChangePolicy: "OnRootMismatch" as const } : {}),
        seccompProfile: { type: "RuntimeDefault" },
    };
}
