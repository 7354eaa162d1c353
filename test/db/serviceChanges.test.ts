import * as assert from "assert";
import { Client } from "pg";
import { specOf, stackConfig } from "../../cli/plan/stackFile";
import { verify } from "../../cli/verify/checks";
import { StackServer, sqlstate, stackServer, tryConnect } from "../support/db";
import { codeBlocks, readDoc, section } from "../support/docs";

/**
 * Renaming and removing a service on a real server, with the SQL the postgresql provider runs for the
 * change (cyrilgdn/terraform-provider-postgresql: `setRoleName` and `setDBName` are ALTER … RENAME TO;
 * `resourcePostgreSQLRoleDelete` is REASSIGN OWNED, DROP OWNED and DROP ROLE in one transaction, in the
 * provider's own database) and the steps docs/operations.md gives ("Remove a service": its SQL read from there).
 */
/** The psql line of docs/operations.md's "Remove a service": who runs it, where, and its SQL. */
function documentedRemoveStep(): { user: string; database: string; sql: string } {
    const lines = codeBlocks(section(readDoc("docs/operations.md"), "Remove a service"), "sh")
        .join("\n")
        .split("\n")
        .filter((l) => l.startsWith("psql "));
    assert.strictEqual(lines.length, 1, lines.join("\n"));
    const m = /^psql -h \S+ -U (\S+) -d (\S+) -c '([^']+)'$/.exec(lines[0]);
    assert.ok(m, lines[0]);
    return { user: m[1], database: m[2], sql: m[3] };
}

describe("renaming and removing a service, on a real server", function () {
    this.timeout(180_000);
    let s: StackServer;
    const sum = async (c: Client, table: string) =>
        (await c.query(`SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS m FROM public.${table} t`)).rows[0].m as string;

    before(async () => {
        s = await stackServer("hanzo-k8s");
    });
    after(() => s?.server.stop());

    const as = async (role: string, password: string, db: string) => {
        const c = await tryConnect(s.server.tcp(role, password, db));
        assert.ok(c instanceof Client, `${role} → ${db}: ${JSON.stringify(c)}`);
        return c;
    };

    it("renames iam to identity in place once the service is stopped: same data, same password", async () => {
        const iam = await as("iam_user", s.passwords.iam_user, "iam");
        await iam.query(
            "CREATE TABLE users (id serial PRIMARY KEY, name text); INSERT INTO users (name) SELECT 'u' || g FROM generate_series(1, 100) g",
        );
        const before = await sum(iam, "users");

        const admin = await s.server.admin();
        // The role first (the database's owner input follows it), then the database, as the provider orders them.
        await admin.query('ALTER ROLE "iam_user" RENAME TO "identity_user"');
        // While the service is connected, PostgreSQL refuses to rename its database: stop the service first.
        assert.strictEqual(await sqlstate(admin, 'ALTER DATABASE "iam" RENAME TO "identity"'), "55006");
        await iam.end();
        await admin.query('ALTER DATABASE "iam" RENAME TO "identity"');
        await admin.end();

        // The SCRAM verifier survives the rename (an MD5 one would not: it is salted with the role name).
        const identity = await as("identity_user", s.passwords.iam_user, "identity");
        assert.strictEqual(await sum(identity, "users"), before);
        await identity.query("ALTER TABLE users ADD COLUMN email text");
        await identity.end();

        const spec = specOf(
            stackConfig("hanzo-k8s", {
                environment: "prod",
                clusterName: "hanzo-k8s",
                services: [
                    { name: "identity", renamedFrom: "iam", connection: "beego" },
                    "cloud",
                    "console",
                    "hanzo_cloud",
                    { name: "kms", connection: "infisical" },
                    "platform",
                ],
            }),
        );
        assert.deepStrictEqual(
            (await verify(spec, s.server.adminUrl())).filter((r) => !r.ok),
            [],
        );
    });

    it("removes cloud only after the documented steps; its database stays, with its data", async () => {
        const cloud = await as("cloud_user", s.passwords.cloud_user, "cloud");
        await cloud.query("CREATE TABLE projects (id int PRIMARY KEY); INSERT INTO projects SELECT generate_series(1, 50)");
        const before = await sum(cloud, "projects");
        await cloud.end();

        // What `pulumi up` runs when the service leaves the stack (the Role's delete), connected to postgres.
        const providerDelete = "BEGIN; REASSIGN OWNED BY cloud_user TO hanzo; DROP OWNED BY cloud_user; DROP ROLE cloud_user; COMMIT;";
        const admin = await s.server.admin();
        assert.strictEqual(await sqlstate(admin, providerDelete), "2BP01", "the role still owns the tables in its database");
        await admin.query("ROLLBACK");

        // The documented step, as written: hand what the role owns in its database to the administrator.
        const step = documentedRemoveStep();
        assert.deepStrictEqual(
            [step.user, step.database],
            ["hanzo", "cloud"],
            "the step runs as the administrator in the service's database",
        );
        const inCloud = await s.server.admin(step.database);
        await inCloud.query(step.sql);
        await inCloud.end();
        assert.strictEqual(await sqlstate(admin, providerDelete), "");
        assert.deepStrictEqual(
            (await admin.query("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'cloud'")).rows,
            [{ owner: "hanzo" }],
        );
        await admin.end();

        const kept = await s.server.admin("cloud");
        assert.strictEqual(await sum(kept, "projects"), before);
        await kept.end();
        assert.deepStrictEqual(await tryConnect(s.server.tcp("cloud_user", s.passwords.cloud_user, "cloud")), {
            code: "28P01",
            message: 'password authentication failed for user "cloud_user"',
        });
    });
});
