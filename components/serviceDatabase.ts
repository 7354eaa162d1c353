import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { connectionSecretData } from "../render/connection";
import { labels } from "../render/labels";
import type { KmsSpec, ServiceSpec } from "../stacks/spec";
import { renderKmsSync } from "../render/kmsSync";
import type { RestoredObjects } from "../stacks/pitrBootstrap";
import { restoredImport } from "./bootstrap";
import { adoptedObject, adoptionAnnotations } from "./adoption";
import { dataProtection, renamedDatabaseChild } from "./protection";
import { loginRole, passwordKeepers } from "./roles";
import { stateInputs } from "./stateInputs";

/**
 * Special characters of generated service passwords (besides letters and digits). The rule: a character is
 * allowed when every form of the Secret carries it intact — the URLs percent-encode it (Go's net/url,
 * WHATWG URL and postgres.js then decode it; render/connection.ts has the table), `.pgpass` escapes `:` and
 * `\`, the PgBouncer userlist doubles `"`, and the split DB_* keys hold it as it is. So URL-hostile
 * characters (`:` `/` `@` `?` `#` `%` `&` `=` `+` …) stay, on purpose, and those that need quoting where a
 * value is used on its own (a shell, an env file, Kubernetes `$(VAR)` expansion, JSON, a keyword DSN) never
 * appear: no space, quote, backslash, `$` or backtick. test/clients/ proves it with the services' clients.
 */
export const PASSWORD_SPECIALS = "!#%&*()-_=+[]{}<>:?@/";

/**
 * The standard's extensions in one database, one Extension resource each, named explicitly (the provider
 * would otherwise invent `<name>-<random>`) and deleted with their database, each at its pinned version.
 * The provider creates with `CREATE EXTENSION IF NOT EXISTS` (so a database that already has one, adopted
 * or not, is taken as it is) and turns a changed `version` into `ALTER EXTENSION … UPDATE TO` in place
 * (`setExtVersion`, postgresql/resource_postgresql_extension.go in cyrilgdn/terraform-provider-postgresql).
 */
export function databaseExtensions(
    name: string,
    database: pulumi.Input<string>,
    extensions: readonly string[],
    versions: Readonly<Record<string, string>>,
    opts: pulumi.CustomResourceOptions,
): postgresql.Extension[] {
    return extensions.map(
        (ext) =>
            new postgresql.Extension(
                `${name}-ext-${ext}`,
                { name: ext, database, schema: "public", ...(versions[ext] !== undefined ? { version: versions[ext] } : {}) },
                opts,
            ),
    );
}

export interface ServiceDatabaseArgs {
    /** The service: its database, role, namespace, Secret name, connection shape and extensions. */
    readonly service: ServiceSpec;
    /** In-cluster host the service connects to. */
    readonly host: string;
    /** Its port. */
    readonly port: number;
    /** Protect the Database from deletion and replacement. */
    readonly protectData: boolean;
    /** The pooler the service connects through, when it is pooled. */
    readonly pooler?: { readonly host: string; readonly port: number };
    /** The standbys' read-only Service (`postgres-ro.<ns>.svc`), when the stack has standbys. */
    readonly readHost?: string;
    /** The stack's KMS, for services that sync their credentials from it. */
    readonly kms?: KmsSpec;
    /** Pinned extension versions (stacks/: the image's, or the stack's). */
    readonly extensionVersions: Readonly<Record<string, string>>;
    /** Adopt the running role and database of the same names (`import`) instead of creating them. */
    readonly adopt: boolean;
    /** Roles and databases a bootstrap restored (pitrBootstrapFrom.restored): imported, not created (components/bootstrap.ts). */
    readonly restored?: RestoredObjects;
}

/** The Secret a KMS sync writes: `<service>-database-url`, never the program's own `<service>-database`. */
export function kmsSecretName(service: ServiceSpec): string {
    return `${service.secretName}-url`;
}

/**
 * One service's database (STANDARD §4, §5, §6): a login role `<database>_user` with none of the forbidden
 * attributes, a database it owns (so it can run its own migrations in `public` on PostgreSQL 15+, defect 3),
 * CONNECT revoked from PUBLIC (so no other service's role can connect), the required extensions, and the
 * service's connection Secret in its namespace.
 *
 * Expects a `postgresql` and a `kubernetes` provider through `providers`.
 */
export class ServiceDatabase extends pulumi.ComponentResource {
    public readonly role: postgresql.Role;
    public readonly database: postgresql.Database;
    /** The database's name (known at declaration, unlike `database.name`). */
    public readonly databaseName: string;
    /** `<namespace>/<name>` of the connection Secret; undefined while the service keeps its password. */
    public readonly secretRef?: pulumi.Output<string>;
    /**
     * The SCRAM-SHA-256 verifier the role is given (secret), for the pooler's userlist; undefined while the
     * service keeps its own password.
     */
    public readonly verifier?: pulumi.Output<string>;

    constructor(name: string, args: ServiceDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hanzo-sql:index:ServiceDatabase", name, stateInputs(args), opts);
        const s = args.service;
        if (s.keepPassword && args.pooler !== undefined) {
            throw new pulumi.ResourceError(
                `ServiceDatabase ${name}: service ${s.name} keeps its password (keepPassword) but is pooled; PgBouncer's userlist needs the password the program manages`,
                this,
            );
        }
        if (s.kmsSync && args.kms?.enabled !== true) {
            throw new pulumi.ResourceError(
                `ServiceDatabase ${name}: service ${s.name} syncs its credentials from the KMS (kmsSync) but no enabled kms was given`,
                this,
            );
        }
        this.databaseName = s.database;

        // A kept password (adopted: the KMS holds it, the service uses it) is neither set nor read: the
        // program declares none, ignores the role's, and writes no connection Secret it cannot fill.
        const password = s.keepPassword
            ? undefined
            : new random.RandomPassword(
                  `${name}-password`,
                  {
                      length: 32,
                      special: true,
                      overrideSpecial: PASSWORD_SPECIALS,
                      minLower: 1,
                      minUpper: 1,
                      minNumeric: 1,
                      minSpecial: 1,
                      // Rotation: raising the service's passwordVersion replaces the password (and its salt).
                      keepers: passwordKeepers(s.passwordVersion),
                  },
                  { parent: this },
              );
        const adopted = (id: string): pulumi.CustomResourceOptions => (args.adopt ? { import: id } : {});
        this.role = loginRole(
            `${name}-role`,
            { name: s.role, password: password?.result, passwordVersion: s.passwordVersion, connectionLimit: s.connectionLimit },
            {
                parent: this,
                ...adopted(s.role),
                ...restoredImport(args.restored, "roles", s.role),
                ...(s.keepPassword ? { ignoreChanges: ["password"] } : {}),
            },
        );
        this.database = new postgresql.Database(
            `${name}-database`,
            {
                name: s.database,
                owner: this.role.name,
                template: "template0",
                encoding: "UTF8",
                allowConnections: true,
                connectionLimit: -1,
            },
            {
                parent: this,
                ...dataProtection(args.protectData),
                ...adopted(s.database),
                ...restoredImport(args.restored, "databases", s.database),
            },
        );
        const childOfDatabase = { parent: this, deletedWith: this.database, ...renamedDatabaseChild(s.renamedFrom !== undefined) };
        // REVOKE ALL ON DATABASE … FROM PUBLIC: only the owner (and the superuser) may connect.
        new postgresql.Grant(
            `${name}-revoke-public`,
            { database: this.database.name, role: "public", objectType: "database", privileges: [] },
            childOfDatabase,
        );
        databaseExtensions(name, this.database.name, s.extensions, args.extensionVersions, childOfDatabase);

        if (password) {
            this.verifier = this.role.password.apply((v) => {
                if (v === undefined) {
                    throw new pulumi.ResourceError(`role ${s.role} was declared without its verifier`, this);
                }
                return v;
            });
            this.secretRef = this.connectionSecret(name, args, password.result);
        }
        if (s.kmsSync && args.kms?.enabled) {
            // The KMS holds DATABASE_URL under /<service> (HIP-29 §Credential Management); the sync writes it
            // into a Secret of its own, so it and the program never overwrite each other. The seed's sync of
            // the same name is adopted.
            const sync = renderKmsSync({
                apiVersion: args.kms.apiVersion,
                kind: args.kms.kind,
                projectSlug: args.kms.projectSlug,
                envSlug: args.kms.envSlug,
                hostAPI: args.kms.hostAPI,
                resyncInterval: args.kms.resyncInterval,
                credentialsSecret: args.kms.credentialsSecret,
                name: s.secretName,
                namespace: s.namespace,
                secretsPath: `/${s.name}`,
                targetSecret: kmsSecretName(s),
            });
            new k8s.apiextensions.CustomResource(
                `${name}-kms-sync`,
                args.adopt ? { ...sync, metadata: { ...sync.metadata, annotations: adoptionAnnotations(true) } } : sync,
                { parent: this, ...adoptedObject(args.adopt, `${s.namespace}/${s.secretName}`) },
            );
        }

        this.registerOutputs({ role: this.role.name, database: this.database.name, secret: this.secretRef });
    }

    /** The service's connection Secret in its namespace, in every shape its client reads. */
    private connectionSecret(name: string, args: ServiceDatabaseArgs, password: pulumi.Output<string>): pulumi.Output<string> {
        const s = args.service;
        const secret = new k8s.core.v1.Secret(
            `${name}-connection`,
            {
                metadata: {
                    name: s.secretName,
                    namespace: s.namespace,
                    labels: labels({ extra: { "hanzo.ai/service": s.name.replace(/_/g, "-") } }),
                },
                type: "Opaque",
                stringData: pulumi.secret(
                    pulumi
                        .all([this.role.name, password, this.database.name])
                        .apply(([user, pw, database]) =>
                            connectionSecretData(
                                { user, password: pw, host: args.host, port: args.port, database, sslmode: "disable" },
                                s.connection,
                                args.pooler,
                                args.readHost,
                            ),
                        ),
                ),
            },
            { parent: this },
        );
        return pulumi.interpolate`${secret.metadata.namespace}/${secret.metadata.name}`;
    }
}
