import * as assert from "assert";
import { crossServicePrivileges, roleMemberships, safeExtensions } from "../../policies/access";
import { TYPE, add, find, inputs, planCopy, violations } from "../support/policy";

describe("role-memberships", () => {
    const P = "role-memberships";
    const GR = "postgresql:index/grantRole:GrantRole";
    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "staging", "dev"]) {
        it(`passes the ${stack} stack (the monitor's pg_monitor and the backup role's pg_read_all_data are the standard's)`, async () => {
            assert.deepStrictEqual(await violations(roleMemberships, await planCopy(stack)), []);
        });
    }

    it("rejects a Role's membership in the superuser and in the server-file roles, as one superuser-in-all-but-name line", async () => {
        const plan = await planCopy();
        inputs(find(plan, TYPE.role, "cloud_user")).roles = ["hanzo", "pg_write_server_files"];
        assert.deepStrictEqual(await violations(roleMemberships, plan), [
            `${P}: hanzo-sql-cloud-role (postgresql:index/role:Role): role "cloud_user" is a member of "hanzo", "pg_write_server_files", which makes it a superuser in all but name; remove the membership.`,
        ]);
    });

    it("rejects a Role's membership in read/write-everything and other predefined roles, the server's own roles and another service's role", async () => {
        const plan = await planCopy();
        inputs(find(plan, TYPE.role, "iam_user")).roles = ["pg_read_all_data", "pg_write_all_data", "pg_signal_backend"];
        inputs(find(plan, TYPE.role, "kms_user")).roles = ["cloud_user", "hanzo_backup", "hanzo_monitor", "kms_readers"];
        // The server's own roles: exactly the standard's memberships, no more.
        inputs(find(plan, TYPE.role, "hanzo_monitor")).roles = ["pg_monitor", "pg_read_all_data"];
        inputs(find(plan, TYPE.role, "hanzo_backup")).roles = ["pg_read_all_data", "pg_write_all_data"];
        assert.deepStrictEqual(await violations(roleMemberships, plan), [
            `${P}: hanzo-sql-monitoring-role (postgresql:index/role:Role): role "hanzo_monitor" is a member of "pg_read_all_data", so it reads every table of every database; remove the membership.`,
            `${P}: hanzo-sql-iam-role (postgresql:index/role:Role): role "iam_user" is a member of "pg_read_all_data", so it reads every table of every database; remove the membership.`,
            `${P}: hanzo-sql-iam-role (postgresql:index/role:Role): role "iam_user" is a member of "pg_write_all_data", so it writes and deletes every table of every database; remove the membership.`,
            `${P}: hanzo-sql-iam-role (postgresql:index/role:Role): role "iam_user" is a member of "pg_signal_backend", so it cancels and terminates other roles' sessions (every service's); remove the membership.`,
            `${P}: hanzo-sql-kms-role (postgresql:index/role:Role): role "kms_user" is a member of "cloud_user", the role of another service, which owns database "cloud"; remove the membership.`,
            `${P}: hanzo-sql-kms-role (postgresql:index/role:Role): role "kms_user" is a member of "hanzo_backup", the role of the server's own backups, which reaches every service's data or statistics; remove the membership.`,
            `${P}: hanzo-sql-kms-role (postgresql:index/role:Role): role "kms_user" is a member of "hanzo_monitor", the role of the server's own metrics, which reaches every service's data or statistics; remove the membership.`,
            `${P}: hanzo-sql-backups-role (postgresql:index/role:Role): role "hanzo_backup" is a member of "pg_write_all_data", so it writes and deletes every table of every database; remove the membership.`,
        ]);
    });

    it("rejects GrantRole of hanzo, of the file and program roles, of everything-roles and of another service's role; allows the standard's and the administrator's", async () => {
        const plan = await planCopy();
        const grant = (name: string, role: string, grantRole: string, extra: Record<string, unknown> = {}) =>
            add(plan, GR, name, { role, grantRole, ...extra });
        grant("iam-hanzo", "iam_user", "hanzo");
        grant("cloud-program", "cloud_user", "pg_execute_server_program");
        grant("console-files", "console_user", "pg_read_server_files");
        grant("kms-write-all", "kms_user", "pg_write_all_data");
        grant("platform-owner", "platform_user", "pg_database_owner");
        grant("platform-checkpoint", "platform_user", "pg_checkpoint");
        grant("iam-into-cloud", "iam_user", "cloud_user");
        grant("monitor-into-iam", "hanzo_monitor", "iam_user");
        grant("backup-write", "hanzo_backup", "pg_write_all_data");
        grant("hand-role-read-all", "reporting", "pg_read_all_data");
        // Allowed: the standard's memberships, the administrator's, a service's group role of its own making.
        grant("monitor", "hanzo_monitor", "pg_monitor");
        grant("backup", "hanzo_backup", "pg_read_all_data");
        grant("admin", "hanzo", "pg_read_all_data");
        grant("own-group", "iam_user", "iam_readers");
        // Allowed membership, but with the right to hand it on.
        grant("monitor-admin", "hanzo_monitor", "pg_monitor", { withAdminOption: true });
        assert.deepStrictEqual(await violations(roleMemberships, plan), [
            `${P}: iam-hanzo (${GR}): GrantRole "iam-hanzo" makes "iam_user" a member of "hanzo", which makes it a superuser in all but name; remove the grant.`,
            `${P}: cloud-program (${GR}): GrantRole "cloud-program" makes "cloud_user" a member of "pg_execute_server_program", which makes it a superuser in all but name; remove the grant.`,
            `${P}: console-files (${GR}): GrantRole "console-files" makes "console_user" a member of "pg_read_server_files", which makes it a superuser in all but name; remove the grant.`,
            `${P}: kms-write-all (${GR}): GrantRole "kms-write-all" makes "kms_user" a member of "pg_write_all_data", so it writes and deletes every table of every database; remove the grant.`,
            `${P}: platform-owner (${GR}): GrantRole "platform-owner" makes "platform_user" a member of "pg_database_owner", so it would own every database it connects to (PostgreSQL refuses explicit members); remove the grant.`,
            `${P}: platform-checkpoint (${GR}): GrantRole "platform-checkpoint" makes "platform_user" a member of "pg_checkpoint", so it forces checkpoints at will (I/O storms); remove the grant.`,
            `${P}: iam-into-cloud (${GR}): GrantRole "iam-into-cloud" makes "iam_user" a member of "cloud_user", the role of another service, which owns database "cloud"; remove the grant.`,
            `${P}: monitor-into-iam (${GR}): GrantRole "monitor-into-iam" makes "hanzo_monitor" a member of "iam_user", the role of another service, which owns database "iam"; remove the grant.`,
            `${P}: backup-write (${GR}): GrantRole "backup-write" makes "hanzo_backup" a member of "pg_write_all_data", so it writes and deletes every table of every database; remove the grant.`,
            `${P}: hand-role-read-all (${GR}): GrantRole "hand-role-read-all" makes "reporting" a member of "pg_read_all_data", so it reads every table of every database; remove the grant.`,
            `${P}: monitor-admin (${GR}): GrantRole "monitor-admin" lets "hanzo_monitor" grant "pg_monitor" to any role (withAdminOption); only "hanzo" grants memberships.`,
        ]);
    });

    it("recognises a service role by the database it owns, also when its name is not <database>_user; skips unknowns of a preview", async () => {
        const plan = await planCopy("hanzo-k8s", true);
        inputs(find(plan, TYPE.database, "iam")).owner = "identity";
        add(plan, GR, "cloud-into-identity", { role: "cloud_user", grantRole: "identity" });
        add(plan, GR, "later", { role: "04da6b54-80e4-46f7-96ec-b56ff0331ba9", grantRole: "hanzo" });
        assert.deepStrictEqual(await violations(roleMemberships, plan), [
            `${P}: cloud-into-identity (${GR}): GrantRole "cloud-into-identity" makes "cloud_user" a member of "identity", the role of another service, which owns database "iam"; remove the grant.`,
        ]);
    });
});

describe("cross-service-privileges", () => {
    const P = "cross-service-privileges";
    const G = "postgresql:index/grant:Grant";
    const DP = "postgresql:index/defaultPrivileges:DefaultPrivileges";
    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "staging", "dev"]) {
        it(`passes the ${stack} stack (revokes from PUBLIC, the backup role's CONNECT)`, async () => {
            assert.deepStrictEqual(await violations(crossServicePrivileges, await planCopy(stack)), []);
        });
    }

    it("rejects privileges on one service's database, schemas and objects for another service, the server's roles, a hand-made role or PUBLIC", async () => {
        const plan = await planCopy();
        const grant = (name: string, props: Record<string, unknown>) => add(plan, G, name, props);
        grant("cloud-connect-iam", { database: "iam", role: "cloud_user", objectType: "database", privileges: ["CONNECT"] });
        grant("public-temp-kms", { database: "kms", role: "public", objectType: "database", privileges: ["TEMPORARY"] });
        grant("public-connect-console", { database: "console", role: "PUBLIC", objectType: "database", privileges: ["connect"] });
        grant("cloud-schema-iam", {
            database: "iam",
            schema: "public",
            role: "cloud_user",
            objectType: "schema",
            privileges: ["USAGE", "CREATE"],
        });
        grant("kms-tables-platform", {
            database: "platform",
            schema: "public",
            role: "kms_user",
            objectType: "table",
            objects: [],
            privileges: ["SELECT", "INSERT"],
        });
        grant("monitor-tables-iam", {
            database: "iam",
            schema: "public",
            role: "hanzo_monitor",
            objectType: "table",
            objects: [],
            privileges: ["SELECT"],
        });
        grant("backup-write-iam", {
            database: "iam",
            schema: "public",
            role: "hanzo_backup",
            objectType: "table",
            objects: [],
            privileges: ["UPDATE"],
        });
        grant("backup-temp-iam", { database: "iam", role: "hanzo_backup", objectType: "database", privileges: ["CONNECT", "TEMPORARY"] });
        grant("public-functions", {
            database: "cloud",
            schema: "public",
            role: "public",
            objectType: "function",
            objects: [],
            privileges: ["EXECUTE"],
        });
        grant("reporting-seq", {
            database: "cloud",
            schema: "public",
            role: "reporting",
            objectType: "sequence",
            objects: [],
            privileges: ["USAGE"],
        });
        add(plan, DP, "iam-defaults-for-cloud", {
            database: "iam",
            owner: "iam_user",
            schema: "public",
            role: "cloud_user",
            objectType: "table",
            privileges: ["SELECT"],
        });
        add(plan, DP, "kms-defaults-for-public", {
            database: "kms",
            owner: "kms_user",
            role: "public",
            objectType: "function",
            privileges: ["EXECUTE"],
        });
        // Allowed: the owner's own, the administrator's, revokes (no privileges), the maintenance databases (another policy's).
        grant("iam-own", { database: "iam", schema: "public", role: "iam_user", objectType: "table", objects: [], privileges: ["SELECT"] });
        grant("admin", { database: "iam", role: "hanzo", objectType: "database", privileges: ["CONNECT"] });
        grant("revoke-cloud", { database: "iam", role: "cloud_user", objectType: "database", privileges: [] });
        grant("template1", { database: "template1", role: "iam_user", objectType: "database", privileges: ["CONNECT"] });
        const W = "which belongs to";
        const ONLY = 'only its owner and "hanzo" hold privileges there.';
        assert.deepStrictEqual(await violations(crossServicePrivileges, plan), [
            `${P}: cloud-connect-iam (${G}): Grant "cloud-connect-iam" gives "cloud_user" CONNECT on database "iam", ${W} "iam_user"; ${ONLY}`,
            `${P}: public-temp-kms (${G}): Grant "public-temp-kms" gives PUBLIC (every role) TEMPORARY on database "kms", ${W} "kms_user"; ${ONLY}`,
            `${P}: public-connect-console (${G}): Grant "public-connect-console" gives PUBLIC (every role) CONNECT on database "console", ${W} "console_user"; ${ONLY}`,
            `${P}: cloud-schema-iam (${G}): Grant "cloud-schema-iam" gives "cloud_user" USAGE, CREATE on schema "public" in database "iam", ${W} "iam_user"; ${ONLY}`,
            `${P}: kms-tables-platform (${G}): Grant "kms-tables-platform" gives "kms_user" SELECT, INSERT on tables in schema "public" of database "platform", ${W} "platform_user"; ${ONLY}`,
            `${P}: monitor-tables-iam (${G}): Grant "monitor-tables-iam" gives "hanzo_monitor" SELECT on tables in schema "public" of database "iam", ${W} "iam_user"; ${ONLY}`,
            `${P}: backup-write-iam (${G}): Grant "backup-write-iam" gives "hanzo_backup" UPDATE on tables in schema "public" of database "iam", ${W} "iam_user"; ${ONLY}`,
            `${P}: backup-temp-iam (${G}): Grant "backup-temp-iam" gives "hanzo_backup" CONNECT, TEMPORARY on database "iam", ${W} "iam_user"; ${ONLY}`,
            `${P}: public-functions (${G}): Grant "public-functions" gives PUBLIC (every role) EXECUTE on functions in schema "public" of database "cloud", ${W} "cloud_user"; ${ONLY}`,
            `${P}: reporting-seq (${G}): Grant "reporting-seq" gives "reporting" USAGE on sequences in schema "public" of database "cloud", ${W} "cloud_user"; ${ONLY}`,
            `${P}: iam-defaults-for-cloud (${DP}): DefaultPrivileges "iam-defaults-for-cloud" gives "cloud_user" SELECT on future tables in schema "public" of database "iam", ${W} "iam_user"; ${ONLY}`,
            `${P}: kms-defaults-for-public (${DP}): DefaultPrivileges "kms-defaults-for-public" gives PUBLIC (every role) EXECUTE on future functions of database "kms", ${W} "kms_user"; ${ONLY}`,
        ]);
    });
});

describe("safe-extensions", () => {
    const P = "safe-extensions";
    const X = "postgresql:index/extension:Extension";
    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "staging", "dev"]) {
        it(`passes the ${stack} stack (the four required extensions, vector and pg_stat_statements untrusted but required)`, async () => {
            assert.deepStrictEqual(await violations(safeExtensions, await planCopy(stack)), []);
        });
    }

    it("rejects extensions that reach files, other servers or the OS, and any the image does not ship; allows the standard's", async () => {
        const plan = await planCopy();
        const ext = (name: string, database = "iam") => add(plan, X, `iam-${name}`, { name, database, schema: "public" });
        for (const name of [
            "adminpack",
            "file_fdw",
            "postgres_fdw",
            "dblink",
            "plpython3u",
            "plperlu",
            "pltclu",
            "pageinspect",
            "pg_surgery",
        ]) {
            ext(name);
        }
        ext("pg_walinspect", "cloud");
        ext("timescaledb");
        // Allowed: shipped by the image, trusted or harmless (lo, pgcrypto, hstore, amcheck, pg_buffercache, plpgsql).
        for (const name of ["lo", "pgcrypto", "hstore", "amcheck", "pg_buffercache", "plpgsql"]) {
            ext(name);
        }
        const R = "is refused: it";
        assert.deepStrictEqual(await violations(safeExtensions, plan), [
            `${P}: iam-adminpack (${X}): Extension "adminpack" in database "iam" ${R} writes, renames and deletes files on the server (pg_file_write, pg_file_unlink); remove it.`,
            `${P}: iam-file_fdw (${X}): Extension "file_fdw" in database "iam" ${R} reads the server's files and runs programs (the program option) as its OS user; remove it.`,
            `${P}: iam-postgres_fdw (${X}): Extension "postgres_fdw" in database "iam" ${R} connects to other servers from the server's network position (the metadata service included); remove it.`,
            `${P}: iam-dblink (${X}): Extension "dblink" in database "iam" ${R} connects to other servers (and to this one as whichever role's password it is given) from the server's network position; remove it.`,
            `${P}: iam-plpython3u (${X}): Extension "plpython3u" in database "iam" ${R} an untrusted language: its functions run any code as the server's OS user; remove it.`,
            `${P}: iam-plperlu (${X}): Extension "plperlu" in database "iam" ${R} an untrusted language: its functions run any code as the server's OS user; remove it.`,
            `${P}: iam-pltclu (${X}): Extension "pltclu" in database "iam" ${R} an untrusted language: its functions run any code as the server's OS user; remove it.`,
            `${P}: iam-pageinspect (${X}): Extension "pageinspect" in database "iam" ${R} reads raw pages of any relation, bypassing every privilege and row-level security; remove it.`,
            `${P}: iam-pg_surgery (${X}): Extension "pg_surgery" in database "iam" ${R} rewrites heap tuples in place (heap_force_kill, heap_force_freeze), corrupting data at will; remove it.`,
            `${P}: iam-pg_walinspect (${X}): Extension "pg_walinspect" in database "cloud" ${R} reads the write-ahead log, every database's changes included; remove it.`,
            `${P}: iam-timescaledb (${X}): Extension "timescaledb" in database "iam" is not one the standard's image ships and allows (vector, pg_trgm, uuid-ossp, pg_stat_statements, amcheck, btree_gin, btree_gist, citext, cube, earthdistance, fuzzystrmatch, hstore, intarray, isn, lo, ltree, pg_buffercache, pg_prewarm, pgcrypto, pgstattuple, tablefunc, tcn, unaccent); remove it.`,
        ]);
    });
});
