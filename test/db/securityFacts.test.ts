/**
 * The facts the pack and the configuration rely on, read from the real server (PostgreSQL 15 here, 16 in the
 * clusters): its reserved key words (and that one cannot be a database name unquoted), which extensions it
 * marks untrusted, and its predefined roles.
 */
import * as assert from "assert";
import { PgServer } from "../harness/pg/server";
import { renderedFiles } from "../support/db";
import { planOf } from "../support/plan";
import { RESERVED_KEYWORDS } from "../../policies/standard/keywords";
import { AVAILABLE_EXTENSIONS, FORBIDDEN_EXTENSIONS, PREDEFINED_ROLES, UNTRUSTED_ALLOWED_EXTENSIONS } from "../../policies/standard/rules";

describe("the standard's security facts, on a real server", function () {
    this.timeout(120_000);
    let server: PgServer;
    before(async () => {
        server = await PgServer.start(renderedFiles(await planOf("hanzo-k8s")));
    });
    after(() => server?.stop());

    async function rows<R>(sql: string): Promise<R[]> {
        const c = await server.admin();
        try {
            return (await c.query(sql)).rows as R[];
        } finally {
            await c.end();
        }
    }

    it("RESERVED_KEYWORDS is exactly the server's reserved key words (pg_get_keywords catcode R and T)", async () => {
        const words = (await rows<{ word: string }>("SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T') ORDER BY word")).map(
            (r) => r.word,
        );
        assert.deepStrictEqual([...RESERVED_KEYWORDS].sort(), words);
    });

    it("a reserved key word is refused as a database name unquoted, an unreserved one is not", async () => {
        const c = await server.admin();
        try {
            await assert.rejects(c.query("CREATE DATABASE select"), /syntax error/);
            await assert.rejects(c.query("CREATE DATABASE left"), /syntax error/);
            await c.query("CREATE DATABASE schema");
            await c.query("DROP DATABASE schema");
        } finally {
            await c.end();
        }
    });

    it("every forbidden extension the server has is untrusted; the allowed ones are trusted except the listed ones", async () => {
        const available = await rows<{ name: string; trusted: boolean }>(
            "SELECT DISTINCT name, trusted FROM pg_available_extension_versions ORDER BY name",
        );
        const trusted = new Map(available.map((r) => [r.name, r.trusted]));
        const forbiddenHere = Object.keys(FORBIDDEN_EXTENSIONS).filter((n) => trusted.has(n));
        // adminpack, file_fdw, postgres_fdw, dblink, pageinspect, pg_surgery, pg_visibility, pg_walinspect (15 contrib);
        // the untrusted languages are packaged apart and not installed here.
        assert.deepStrictEqual(forbiddenHere.sort(), [
            "adminpack",
            "dblink",
            "file_fdw",
            "pageinspect",
            "pg_surgery",
            "pg_visibility",
            "pg_walinspect",
            "postgres_fdw",
        ]);
        for (const n of forbiddenHere) {
            assert.strictEqual(trusted.get(n), false, n);
        }
        for (const n of AVAILABLE_EXTENSIONS) {
            assert.ok(trusted.has(n), `${n} is not available on the server`);
            assert.strictEqual(trusted.get(n), !UNTRUSTED_ALLOWED_EXTENSIONS.includes(n), n);
        }
    });

    it("PREDEFINED_ROLES holds every predefined role of the server, and PostgreSQL 16's two more", async () => {
        const roles = (await rows<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE 'pg\\_%' ORDER BY 1")).map(
            (r) => r.rolname,
        );
        assert.deepStrictEqual(
            Object.keys(PREDEFINED_ROLES)
                .filter((r) => !["pg_create_subscription", "pg_use_reserved_connections"].includes(r))
                .sort(),
            roles,
        );
    });
});
