import type { ResourceValidationPolicy } from "@pulumi/policy";
import { KMS_SYNC_TYPES, T, WORKLOADS, k8sName, kindOf } from "./lib";

/** How the offline plan shows a secret value; seeing it outside a Secret means a secret leaked there. */
export const REDACTED = "[secret]";
const SENSITIVE_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL/i;

/** Why a value is a password in plain text, or undefined. */
export function plaintextSecret(value: unknown, name?: string): string | undefined {
    if (typeof value !== "string" || value === "") {
        return undefined;
    }
    if (value === REDACTED) {
        return "holds a secret value";
    }
    if (/[a-z][a-z0-9+.-]*:\/\/[^:@/\s]*:[^@/\s]+@/i.test(value)) {
        return "holds a connection string with a password";
    }
    if (/(^|\s)password\s*=\s*('[^']+'|[^\s']+)/i.test(value)) {
        return "holds a password= setting";
    }
    if (name !== undefined && SENSITIVE_NAME.test(name)) {
        return "is a credential by its name";
    }
    return undefined;
}

/**
 * no-plaintext-secrets: passwords live in Kubernetes Secret data only, never in plain text in ConfigMaps,
 * environment values, container arguments or annotations (STANDARD §4: never in plain text in code,
 * outputs or logs). Detected: a secret value the plan redacted showing up there, a connection string or
 * DSN with a password, and credential-named env vars or keys with a literal value.
 *
 * Instead: a Secret, referenced with `valueFrom.secretKeyRef` or `envFrom.secretRef`.
 */
export const noPlaintextSecrets: ResourceValidationPolicy = {
    name: "no-plaintext-secrets",
    description: "No password in plain text outside Kubernetes Secret data (ConfigMaps, env values, args, annotations).",
    validateResource: (args, report) => {
        if (!args.type.startsWith("kubernetes:") || args.type === T.secret || KMS_SYNC_TYPES.includes(args.type)) {
            return;
        }
        const what = `${kindOf(args.type)} "${k8sName(args)}"`;
        for (const [k, v] of Object.entries((args.props?.metadata?.annotations ?? {}) as Record<string, unknown>)) {
            const why = plaintextSecret(v);
            if (why) {
                report(`${what} annotation ${k} ${why} in plain text; keep it in a Secret.`);
            }
        }
        if (args.type === T.configMap) {
            for (const [k, v] of Object.entries((args.props?.data ?? {}) as Record<string, unknown>)) {
                const why = plaintextSecret(v, k);
                if (why) {
                    report(`${what} key ${k} ${why} in plain text; keep it in a Secret.`);
                }
            }
            return;
        }
        const pod = WORKLOADS[args.type]?.(args.props);
        if (!pod) {
            return;
        }
        for (const [k, v] of Object.entries(pod.metadata?.annotations ?? {})) {
            const why = plaintextSecret(v);
            if (why) {
                report(`${what} pod annotation ${k} ${why} in plain text; keep it in a Secret.`);
            }
        }
        for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
            for (const e of c.env ?? []) {
                const why = e.value === undefined ? undefined : plaintextSecret(e.value, e.name);
                if (why) {
                    report(`${what} container "${c.name}" env ${e.name} ${why} in plain text; use valueFrom.secretKeyRef.`);
                }
            }
            for (const [i, a] of [...(c.command ?? []), ...(c.args ?? [])].entries()) {
                const why = plaintextSecret(a);
                if (why) {
                    report(`${what} container "${c.name}" argument ${i} ${why} in plain text; read it from a Secret-backed env var.`);
                }
            }
        }
    },
};
