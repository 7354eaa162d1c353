import * as pulumi from "@pulumi/pulumi";

/**
 * The fields, at any depth of a component's args, that hold a secret: the superuser's password (the spec's
 * `admin.password`, HanzoSql's `adminPassword`), the backup endpoint's credentials, every role's password
 * (`password`, e.g. the exporter's) and SCRAM verifier (`verifier`, e.g. a pooled user's).
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(["password", "adminPassword", "accessKeyId", "secretAccessKey", "verifier"]);

function isPlainObject(v: unknown): v is Record<string, unknown> {
    if (typeof v !== "object" || v === null) {
        return false;
    }
    const proto = Object.getPrototypeOf(v);
    return proto === Object.prototype || proto === null;
}

/**
 * A component's args as it passes them to `super`, so that they reach the state as the component's inputs
 * (as pulumi-eks's components do: `super(type, name, args, opts)`): the same tree, with the value of every
 * secret field wrapped in `pulumi.secret` (encrypted in the state, `[secret]` in diffs, the plan and the
 * policies' view), and resources left out: a resource reference resolves only once the resource is created,
 * and the SDK registers a component only once its inputs resolve, so every child would wait for it (the
 * component's own dependencies say which resources it uses). Outputs and every other value go as they are.
 */
export function stateInputs(args: object): pulumi.Inputs {
    const walk = (v: unknown, key?: string): unknown => {
        if (key !== undefined && SECRET_FIELDS.has(key) && v !== undefined) {
            return pulumi.secret(v as pulumi.Input<unknown>);
        }
        if (pulumi.Resource.isInstance(v)) {
            return undefined;
        }
        if (Array.isArray(v)) {
            return v.map((x) => walk(x));
        }
        if (isPlainObject(v)) {
            return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
        }
        return v;
    };
    return walk(args) as pulumi.Inputs;
}
