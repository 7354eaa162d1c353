import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { Container, KMS_SYNC_TYPES, T, WORKLOADS, entries, k8sName, kindOf, list, plainStack, str } from "./lib";

const SENSITIVE_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL/i;
/** A connection URL with a password: `scheme://user:password@host`. */
const URL_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^:@/\s]*:([^@/\s]+)@/i;
/** A keyword DSN's password: `password=secret` or `password='se cret'`. */
const KEYWORD_PASSWORD = /(?:^|\s)password\s*=\s*(?:'((?:[^'\\]|\\.)+)'|([^\s']+))/i;
/** Shorter values are not matched by value (a port, a flag, a short name would match by accident). */
export const MIN_SECRET_LENGTH = 8;

/** Where a secret value comes from, for the message. */
type Sources = Map<string, string>;

function add(sources: Sources, value: unknown, source: string): void {
    const v = str(value);
    if (v !== undefined && v.length >= MIN_SECRET_LENGTH && !sources.has(v)) {
        sources.set(v, source);
    }
}

/** The password inside a connection string, if any. */
function embeddedPassword(value: string): string | undefined {
    const url = URL_PASSWORD.exec(value);
    if (url) {
        try {
            return decodeURIComponent(url[1]);
        } catch {
            return url[1];
        }
    }
    const kw = KEYWORD_PASSWORD.exec(value);
    return kw ? (kw[1] ?? kw[2]).replace(/\\(.)/g, "$1") : undefined;
}

/**
 * Every secret value of the stack that is known: generated passwords (RandomPassword results), the passwords
 * Roles and the PostgreSQL provider receive, DigitalOcean Spaces secret keys, and the credentials in
 * Kubernetes Secrets (values under credential-like keys, and the password inside every connection string).
 * Under the engine these arrive in plain text; in a plan file they are the plan's redaction, "[secret]",
 * so a redacted value that shows up outside a Secret still matches.
 */
export function secretValues(resources: PolicyResource[]): Sources {
    const sources: Sources = new Map();
    for (const r of resources) {
        const p = r.props ?? {};
        if (r.type === T.password) {
            add(sources, p.result, `the generated password "${r.name}"`);
        } else if (r.type === T.role || r.type === T.pgProvider) {
            add(sources, p.password, `the password of ${r.type === T.role ? `role "${str(p.name) ?? r.name}"` : `provider "${r.name}"`}`);
        } else if (r.type === T.spacesKey) {
            add(sources, p.secretKey, `the Spaces key "${r.name}"`);
        } else if (r.type === T.secret) {
            const data: Record<string, unknown> = {};
            for (const [k, v] of Object.entries(typeof p.data === "object" && p.data !== null ? p.data : {})) {
                const text = str(v);
                if (text !== undefined) {
                    data[k] = text === "[secret]" ? text : Buffer.from(text, "base64").toString("utf8");
                }
            }
            Object.assign(data, typeof p.stringData === "object" && p.stringData !== null ? p.stringData : {});
            for (const [k, v] of Object.entries(data)) {
                const text = str(v);
                if (text === undefined) {
                    continue;
                }
                const where = `Secret "${k8sName(r)}" key ${k}`;
                if (SENSITIVE_NAME.test(k)) {
                    add(sources, text, where);
                }
                add(sources, embeddedPassword(text), `the password in ${where}`);
            }
        }
    }
    return sources;
}

/** Why a value is a secret in plain text, or undefined. */
export function plaintextSecret(value: unknown, secrets: Sources, name?: string): string | undefined {
    const text = str(value);
    if (text === undefined || text === "") {
        return undefined;
    }
    for (const [secret, source] of secrets) {
        if (text === secret) {
            return `is ${source}`;
        }
        if (text.includes(secret)) {
            return `contains ${source}`;
        }
    }
    if (URL_PASSWORD.test(text)) {
        return "holds a connection string with a password";
    }
    if (KEYWORD_PASSWORD.test(text)) {
        return "holds a password= setting";
    }
    if (name !== undefined && SENSITIVE_NAME.test(name)) {
        return "is a credential by its name";
    }
    return undefined;
}

/**
 * no-plaintext-secrets: passwords live in Kubernetes Secret data only, never in plain text in ConfigMaps,
 * environment values, container commands and arguments, or annotations (STANDARD §4: never in plain text in
 * code, outputs or logs). Detected by value: any such string equal to or containing a secret of the stack
 * (a generated password, a Role's or the provider's password, a Spaces secret key, a credential held in a
 * Secret), whichever way it got there; and by shape: a connection string or DSN with a password, and
 * credential-named keys or env vars with a literal value. Values not known yet (a first preview) are
 * checked when they are.
 *
 * Instead: a Secret, referenced with `valueFrom.secretKeyRef` or `envFrom.secretRef`.
 */
export const noPlaintextSecrets: StackValidationPolicy = {
    name: "no-plaintext-secrets",
    description: "No password in plain text outside Kubernetes Secret data (ConfigMaps, env values, commands, args, annotations).",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const secrets = secretValues(args.resources);
        for (const r of args.resources) {
            if (!r.type.startsWith("kubernetes:") || r.type === T.secret || KMS_SYNC_TYPES.includes(r.type)) {
                continue;
            }
            const what = `${kindOf(r.type)} "${k8sName(r)}"`;
            const check = (value: unknown, where: string, fix: string, name?: string) => {
                const why = plaintextSecret(value, secrets, name);
                if (why) {
                    report(`${what} ${where} ${why} in plain text; ${fix}.`, r.urn);
                }
            };
            for (const [k, v] of entries(r.props?.metadata?.annotations)) {
                check(v, `annotation ${k}`, "keep it in a Secret");
            }
            if (r.type === T.configMap) {
                for (const [k, v] of entries(r.props?.data)) {
                    check(v, `key ${k}`, "keep it in a Secret", k);
                }
                continue;
            }
            const pod = WORKLOADS[r.type]?.(r.props);
            if (!pod) {
                continue;
            }
            for (const [k, v] of entries(pod.metadata?.annotations)) {
                check(v, `pod annotation ${k}`, "keep it in a Secret");
            }
            for (const c of [...list<Container>(pod.spec?.initContainers), ...list<Container>(pod.spec?.containers)]) {
                for (const e of list<NonNullable<Container["env"]>[number]>(c.env)) {
                    if (e.value !== undefined) {
                        check(e.value, `container "${c.name}" env ${e.name}`, "use valueFrom.secretKeyRef", e.name);
                    }
                }
                for (const [i, a] of list<string>(c.command).entries()) {
                    check(a, `container "${c.name}" command ${i}`, "read it from a Secret-backed env var");
                }
                for (const [i, a] of list<string>(c.args).entries()) {
                    check(a, `container "${c.name}" argument ${i}`, "read it from a Secret-backed env var");
                }
            }
        }
    },
};
