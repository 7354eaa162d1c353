import * as assert from "assert";
import { workloads } from "../harness/pod/plan";
import type { Container, PodSpec } from "../harness/pod/runner";
import { planOf, planWith } from "../support/plan";

/**
 * The Pod Security Standards' "restricted" profile (which includes "baseline"), as written in the Kubernetes
 * documentation, https://kubernetes.io/docs/concepts/security/pod-security-standards/ (the rules the
 * PodSecurity admission controller enforces with `pod-security.kubernetes.io/enforce: restricted`). Each
 * function returns the violations of one control, in the docs' words.
 */
const BASELINE_CAPS = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];
const RESTRICTED_VOLUMES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];

export function restrictedViolations(spec: PodSpec & Record<string, any>): string[] {
    const out: string[] = [];
    const psc = (spec.securityContext ?? {}) as Record<string, any>;
    const containers: (Container & Record<string, any>)[] = [...(spec.initContainers ?? []), ...spec.containers];
    // Baseline: host namespaces, privileged, capabilities, hostPath, host ports, /proc mount, seccomp, sysctls.
    for (const k of ["hostNetwork", "hostPID", "hostIPC"]) {
        if (spec[k] === true) {
            out.push(`Host Namespaces: ${k} must be unset or false`);
        }
    }
    for (const c of containers) {
        const sc = (c.securityContext ?? {}) as Record<string, any>;
        if (sc.privileged === true) {
            out.push(`Privileged Containers: ${c.name}`);
        }
        if (sc.windowsOptions?.hostProcess === true) {
            out.push(`HostProcess: ${c.name}`);
        }
        for (const cap of sc.capabilities?.add ?? []) {
            if (!BASELINE_CAPS.includes(cap)) {
                out.push(`Capabilities (baseline): ${c.name} adds ${cap}`);
            }
            if (cap !== "NET_BIND_SERVICE") {
                out.push(`Capabilities (restricted): ${c.name} may add only NET_BIND_SERVICE, adds ${cap}`);
            }
        }
        if (!(sc.capabilities?.drop ?? []).includes("ALL")) {
            out.push(`Capabilities (restricted): ${c.name} must drop ALL`);
        }
        for (const p of c.ports ?? []) {
            if ((p as Record<string, any>).hostPort) {
                out.push(`Host Ports: ${c.name}`);
            }
        }
        if (sc.procMount !== undefined && sc.procMount !== "Default") {
            out.push(`/proc Mount Type: ${c.name}`);
        }
        if (sc.allowPrivilegeEscalation !== false) {
            out.push(`Privilege Escalation: ${c.name} must set allowPrivilegeEscalation: false`);
        }
        if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) {
            out.push(`Running as Non-root: ${c.name} (runAsNonRoot true on the pod or the container)`);
        }
        if ((sc.runAsUser ?? psc.runAsUser) === 0) {
            out.push(`Running as Non-root user: ${c.name} runs as uid 0`);
        }
        const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
        if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") {
            out.push(`Seccomp: ${c.name} needs RuntimeDefault or Localhost (pod or container), has ${seccomp}`);
        }
    }
    for (const v of spec.volumes ?? []) {
        const type = Object.keys(v).find((k) => k !== "name")!;
        if (type === "hostPath") {
            out.push(`HostPath Volumes: ${v.name}`);
        }
        if (!RESTRICTED_VOLUMES.includes(type)) {
            out.push(`Volume Types: ${v.name} is ${type}`);
        }
    }
    if ((psc.sysctls ?? []).length > 0) {
        out.push("Sysctls: only the safe set is allowed; this check wants none");
    }
    return out;
}

describe("pods: every workload meets the Pod Security Standards' restricted profile", () => {
    it("hanzo-k8s, lux-k8s and a pooled stack: the server, its exporter, the backup CronJob, PgBouncer", async () => {
        const plans = [
            await planOf("hanzo-k8s"),
            await planOf("lux-k8s"),
            await planWith("pooled", {
                environment: "prod",
                clusterName: "hanzo-k8s",
                poolingEnabled: true,
                services: [{ name: "commerce", pooled: true }],
            }),
        ];
        const seen: string[] = [];
        for (const plan of plans) {
            for (const w of workloads(plan)) {
                seen.push(`${plan.plan.stack} ${w.kind}/${w.name}`);
                assert.deepStrictEqual(
                    restrictedViolations(w.spec as PodSpec & Record<string, any>),
                    [],
                    `${plan.plan.stack} ${w.kind}/${w.name}`,
                );
            }
        }
        assert.deepStrictEqual(seen, [
            "hanzo-k8s StatefulSet/postgres",
            "hanzo-k8s CronJob/postgres-restore-drill",
            "hanzo-k8s CronJob/postgres-backup",
            "lux-k8s StatefulSet/postgres",
            "lux-k8s CronJob/postgres-restore-drill",
            "lux-k8s CronJob/postgres-backup",
            "pooled StatefulSet/postgres",
            "pooled Deployment/pgbouncer",
            "pooled CronJob/postgres-restore-drill",
            "pooled CronJob/postgres-backup",
        ]);
    });

    it("names each violated control: root, privilege escalation, capabilities, seccomp, hostPath", () => {
        const spec = {
            securityContext: { runAsUser: 0 },
            volumes: [{ name: "h", hostPath: { path: "/" } }],
            containers: [{ name: "c", image: "x", securityContext: { capabilities: { add: ["SYS_ADMIN"] } } }],
        } as unknown as PodSpec & Record<string, any>;
        assert.deepStrictEqual(restrictedViolations(spec), [
            "Capabilities (baseline): c adds SYS_ADMIN",
            "Capabilities (restricted): c may add only NET_BIND_SERVICE, adds SYS_ADMIN",
            "Capabilities (restricted): c must drop ALL",
            "Privilege Escalation: c must set allowPrivilegeEscalation: false",
            "Running as Non-root: c (runAsNonRoot true on the pod or the container)",
            "Running as Non-root user: c runs as uid 0",
            "Seccomp: c needs RuntimeDefault or Localhost (pod or container), has undefined",
            "HostPath Volumes: h",
            "Volume Types: h is hostPath",
        ]);
    });
});
