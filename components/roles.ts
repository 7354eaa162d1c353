import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { SCRAM_SALT_BYTES, scramVerifier } from "../render/scram";
import { FORBIDDEN_ROLE_ATTRIBUTES } from "../policies/standard/rules";
import { PRIVILEGED_SEARCH_PATH } from "../render/privilegedSession";

/**
 * Keepers of a credential at `version`: none at version 1, so a stack that never rotated keeps its
 * RandomPassword (adding keepers to an existing resource would replace it); `{ passwordVersion }` after.
 */
export function passwordKeepers(version: number): Record<string, string> | undefined {
    return version > 1 ? { passwordVersion: String(version) } : undefined;
}

/**
 * The SCRAM-SHA-256 verifier of a password (render/scram.ts), salted by a RandomId of its own: stable across
 * runs (the salt is state), renewed with the password (same keepers). Secret, like the password.
 */
export function scramSecret(
    resourceName: string,
    password: pulumi.Input<string>,
    version: number,
    opts: pulumi.CustomResourceOptions,
): pulumi.Output<string> {
    const salt = new random.RandomId(resourceName, { byteLength: SCRAM_SALT_BYTES, keepers: passwordKeepers(version) }, opts);
    return pulumi.secret(pulumi.all([password, salt.b64Std]).apply(([pw, s]) => scramVerifier(pw, s)));
}

/**
 * A login role with none of the attributes the standard forbids (SUPERUSER, CREATEROLE, CREATEDB,
 * REPLICATION, BYPASSRLS, all set false explicitly, from policies/standard/rules.ts), plus the memberships given
 * (pg_monitor, pg_read_all_data for the server's own jobs; none for services).
 *
 * The provider receives the password's SCRAM verifier, never the password: it sends `CREATE ROLE … ENCRYPTED
 * PASSWORD '<verifier>'` / `ALTER ROLE … PASSWORD '<verifier>'`, PostgreSQL stores the verifier as given, and on
 * refresh the provider compares pg_shadow.passwd with its state verbatim when the state starts with
 * `SCRAM-SHA-256` (cyrilgdn/terraform-provider-postgresql postgresql/resource_postgresql_role.go,
 * `readRolePassword`), so there is no diff unless someone changed the role's password on the server.
 */
export function loginRole(
    resourceName: string,
    args: {
        name: string;
        password?: pulumi.Input<string>;
        passwordVersion?: number;
        roles?: string[];
        connectionLimit?: number;
        bypassRowLevelSecurity?: boolean;
        /**
         * A role of the server's own jobs (backup, monitor): its sessions resolve names in pg_catalog only,
         * as a role setting no service can override (render/privilegedSession.ts).
         */
        privileged?: boolean;
        replication?: boolean;
    },
    opts: pulumi.CustomResourceOptions,
): postgresql.Role {
    const forbidden = Object.fromEntries(FORBIDDEN_ROLE_ATTRIBUTES.map((a) => [a.input, false]));
    const salt = { parent: opts.parent, ...(opts.deletedWith ? { deletedWith: opts.deletedWith } : {}) };
    return new postgresql.Role(
        resourceName,
        {
            name: args.name,
            login: true,
            // No password: the role keeps the one it has (an adopted service's, which the KMS holds).
            ...(args.password !== undefined
                ? { password: scramSecret(`${resourceName}-salt`, args.password, args.passwordVersion ?? 1, salt) }
                : {}),
            ...forbidden,
            // The backup role only (reads every row of a table with row-level security; policies/roles.ts).
            ...(args.bypassRowLevelSecurity ? { bypassRowLevelSecurity: true } : {}),
            // The replication role only (standbys stream WAL; policies/standard/roles.ts ALLOWED_ROLE_ATTRIBUTES).
            ...(args.replication ? { replication: true } : {}),
            inherit: true,
            ...(args.roles ? { roles: args.roles } : {}),
            ...(args.connectionLimit !== undefined ? { connectionLimit: args.connectionLimit } : {}),
            ...(args.privileged ? { searchPaths: [...PRIVILEGED_SEARCH_PATH] } : {}),
        },
        opts,
    );
}
