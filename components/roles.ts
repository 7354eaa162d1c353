import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { FORBIDDEN_ROLE_ATTRIBUTES } from "../stacks/rules";

/**
 * A login role with none of the attributes the standard forbids (SUPERUSER, CREATEROLE, CREATEDB,
 * REPLICATION, BYPASSRLS, all set false explicitly, from stacks/rules.ts), plus the memberships given
 * (pg_monitor, pg_read_all_data for the server's own jobs; none for services).
 */
export function loginRole(
    resourceName: string,
    args: { name: string; password: pulumi.Input<string>; roles?: string[]; connectionLimit?: number; bypassRowLevelSecurity?: boolean },
    opts: pulumi.CustomResourceOptions,
): postgresql.Role {
    const forbidden = Object.fromEntries(FORBIDDEN_ROLE_ATTRIBUTES.map((a) => [a.input, false]));
    return new postgresql.Role(
        resourceName,
        {
            name: args.name,
            login: true,
            password: args.password,
            ...forbidden,
            // The backup role only (reads every row of a table with row-level security; policies/roles.ts).
            ...(args.bypassRowLevelSecurity ? { bypassRowLevelSecurity: true } : {}),
            inherit: true,
            ...(args.roles ? { roles: args.roles } : {}),
            ...(args.connectionLimit !== undefined ? { connectionLimit: args.connectionLimit } : {}),
        },
        opts,
    );
}
