/**
 * The standard's rules are written once (policies/standard/*) and every consumer gives the same answer: each
 * rule's cases are fed to the config loader (a stack with that value), to the program (what it renders), to
 * the policy pack through the real analyzer (a resource or rendered file with that value), to PostgreSQL
 * itself where it reads the value, and to the live verifier where it checks the same thing.
 */
import * as assert from "assert";
import { hbaAddressProblem, networkProblem } from "../../policies/standard/network";
import { hbaRules, parsePgHba } from "../../policies/standard/pgHba";
import { renderPgHba } from "../../render/pgHba";
import { parsePostgresqlConf } from "../../policies/standard/postgresqlConf";
import { FORBIDDEN_ROLE_ATTRIBUTES, identifierProblem, reservedDatabaseProblem, roleNameFor } from "../../policies/standard/rules";
import { SETTING_UNITS, sameSetting } from "../../policies/standard/units";
import { postgresNaming } from "../../policies/naming";
import { noSuperuserRoles } from "../../policies/roles";
import { serverConfiguration } from "../../policies/server";
import type { PgServer } from "../harness/pg/server";
import { renderInitSql } from "../../cli/sql/initSql";
import { specOf, stackConfig } from "../../cli/plan/stackFile";
import { verify } from "../../cli/verify/checks";
import { VALID, load } from "../support/config";
import { renderedFiles, stackServer } from "../support/db";
import { planOf, planWith } from "../support/plan";
import { TYPE, add, find, inputs, mutable, planCopy, violations } from "../support/policy";

/** The loader's answer: undefined when it accepts `values`, else its problem lines. */
function loaderProblems(values: Record<string, unknown>): string[] | undefined {
    try {
        load(values);
        return undefined;
    } catch (e) {
        return (e as Error).message
            .split("\n")
            .slice(1)
            .map((l) => l.replace(/^ {2}- /, ""));
    }
}

const conf = (plan: any) => inputs(find(plan, TYPE.configMap, "postgres-config")).data;
const SERVER = 'server-configuration: hanzo-sql-postgres-config (kubernetes:core/v1:ConfigMap): ConfigMap "hanzo/postgres-config"';

describe("the standard's rules: one answer from every consumer", function () {
    this.timeout(300_000);

    describe("network ranges (podNetworkCidrs, pg_hba.conf), IPv4 and IPv6", () => {
        const BEYOND =
            "reaches beyond private address space; the standard admits the pod network only: a range inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7";
        const MALFORMED = "must be a network in CIDR form: IPv4 such as 10.0.0.0/8, or IPv6 such as fd00:10:244::/56";
        const CASES: [string, string | undefined][] = [
            ["10.0.0.0/8", undefined],
            ["10.244.0.0/16", undefined],
            ["172.16.0.0/12", undefined],
            ["192.168.1.0/24", undefined],
            ["100.64.0.0/10", undefined],
            ["fd00:10:244::/56", undefined],
            ["fd12:3456:789a::/48", undefined],
            ["::ffff:10.0.0.0/104", undefined],
            ["0.0.0.0/0", BEYOND],
            ["::/0", BEYOND],
            ["::ffff:0:0/96", BEYOND],
            ["0.0.0.0/1", BEYOND],
            ["2000::/3", BEYOND],
            ["2001:db8::/32", BEYOND],
            ["11.0.0.0/8", BEYOND],
            ["10.0.0.0/7", BEYOND],
            ["fe80::/10", BEYOND],
            ["fc00::/7", "is wider than a /48 (one RFC 4193 site); the standard admits the pod network only"],
            ["fd00::/40", "is wider than a /48 (one RFC 4193 site); the standard admits the pod network only"],
            ["10.0.0/8", MALFORMED],
            ["10.0.0.0/33", MALFORMED],
            ["fd00::/129", MALFORMED],
            ["10.0.0.0", MALFORMED],
            ["fd00::1%eth0/64", MALFORMED],
            ["0x0a.0.0.0/8", MALFORMED],
        ];
        const accepted = CASES.filter(([, p]) => p === undefined).map(([c]) => c);
        /** Well-formed but too wide: PostgreSQL itself loads these lines. */
        const wide = CASES.filter(([, p]) => p !== undefined && p !== MALFORMED).map(([c]) => c);

        it("the rule (policies/standard/network.ts): each case's verdict", () => {
            assert.deepStrictEqual(
                CASES.map(([c]) => [c, networkProblem(c)]),
                CASES,
            );
            // pg_hba.conf's other spellings of the same networks get the same verdicts.
            assert.deepStrictEqual(
                [
                    "10.0.0.0 255.0.0.0",
                    "10.0.0.0 254.0.0.0",
                    "fd00:10:244:: ffff:ffff:ffff:ff00::",
                    ":: ::",
                    "all",
                    "samenet",
                    "samehost",
                    "db.example.com",
                ].map(hbaAddressProblem),
                [
                    undefined,
                    BEYOND,
                    undefined,
                    BEYOND,
                    "admits every address; the standard admits the pod network only",
                    MALFORMED,
                    undefined,
                    MALFORMED,
                ],
            );
        });

        it("the config loader: a stack with each value is accepted or rejected with the rule's words", () => {
            for (const [cidr, problem] of CASES) {
                assert.deepStrictEqual(
                    loaderProblems({ ...VALID, podNetworkCidrs: [cidr] }),
                    problem === undefined ? undefined : [`hanzo-sql:podNetworkCidrs[0] = "${cidr}": ${problem}`],
                    cidr,
                );
            }
        });

        it("the program renders every accepted network into pg_hba.conf, and the pack (through the analyzer) passes it", async () => {
            const result = await planWith("networks", { ...VALID, podNetworkCidrs: accepted });
            const rules = parsePgHba(renderedFiles(result).pgHba);
            for (const cidr of accepted) {
                assert.ok(
                    rules.some((r) => r.type === "host" && r.address === cidr && r.method === "scram-sha-256"),
                    cidr,
                );
            }
            assert.deepStrictEqual(await violations(serverConfiguration, mutable(result.engine)), []);
        });

        it("the pack (through the analyzer) rejects in pg_hba.conf exactly what the loader rejects, with the same words", async () => {
            const plan = await planCopy();
            conf(plan)["pg_hba.conf"] = renderPgHba(hbaRules(CASES.map(([c]) => c)));
            assert.deepStrictEqual(
                await violations(serverConfiguration, plan),
                CASES.filter(([, p]) => p !== undefined).map(
                    ([c, p]) => `${SERVER} pg_hba.conf admits "host all all ${c} scram-sha-256": ${c} ${p}.`,
                ),
            );
        });

        describe("PostgreSQL and the live verifier", () => {
            let server: PgServer;
            const spec = specOf(stackConfig("hanzo-k8s"));
            before(async () => {
                server = (await stackServer("hanzo-k8s")).server;
            });
            after(() => server?.stop());

            it("PostgreSQL loads pg_hba.conf with each well-formed IPv4 and IPv6 range; the verifier flags exactly the rule's wide ones", async () => {
                const files = renderedFiles(await planOf("hanzo-k8s"));
                const pgHba = renderPgHba(hbaRules([...accepted, ...wide]));
                server.restart({ ...files, pgHba });
                const admin = await server.admin();
                const rows = (
                    await admin.query(
                        "SELECT line_number, address, netmask, error FROM pg_hba_file_rules WHERE type = 'host' AND auth_method = 'scram-sha-256' ORDER BY 1",
                    )
                ).rows;
                await admin.end();
                assert.deepStrictEqual(
                    rows.filter((r) => r.error !== null),
                    [],
                );
                // Loopback (IPv4, IPv6), then every case, each on its own line.
                assert.strictEqual(rows.length, 2 + accepted.length + wide.length);
                const lineOf = (cidr: string) => pgHba.split("\n").findIndex((l) => l.startsWith(`host  all  all  ${cidr}  `)) + 1;
                // pg_hba_file_rules writes each network as address and mask; the verdict and the words are the same.
                const shown = (cidr: string) =>
                    rows.filter((r) => r.line_number === lineOf(cidr)).map((r) => `${r.address} ${r.netmask}`)[0];
                const hba = (await verify(spec, server.adminUrl())).find((r) => r.object === "pg_hba.conf")!;
                assert.deepStrictEqual(hba, {
                    object: "pg_hba.conf",
                    ok: false,
                    detail: wide.map((c) => `line ${lineOf(c)} (${shown(c)}) ${networkProblem(c)}`).join("; "),
                    fix: "restore the rendered pg_hba.conf (pulumi up; the stack's podNetworkCidrs), then reload",
                });
                server.restart(files);
                assert.deepStrictEqual(
                    (await verify(spec, server.adminUrl())).find((r) => r.object === "pg_hba.conf"),
                    {
                        object: "pg_hba.conf",
                        ok: true,
                        detail: `${parsePgHba(files.pgHba).length} rules; every network admitted is the standard's`,
                    },
                );
            });

            it("setting units: the pack and the verifier (on PostgreSQL's own pg_settings) agree which values equal the standard's", async () => {
                // [setting, value, does it equal what the stack renders (2Gi pod)?]
                const rounds: [string, string, boolean][][] = [
                    [
                        ["wal_keep_size", "1024MB", true],
                        ["checkpoint_timeout", "600", true],
                        ["work_mem", "4096kB", true],
                        ["maintenance_work_mem", "'1GB'", true],
                        ["log_min_duration_statement", "1s", true],
                        ["effective_cache_size", "196608", true],
                        ["shared_buffers", "1GB", false],
                    ],
                    [
                        ["checkpoint_timeout", "5min", false],
                        ["work_mem", "8MB", false],
                        ["log_min_duration_statement", "1000s", false],
                        ["effective_cache_size", "1536", false],
                        ["wal_keep_size", "1", false],
                    ],
                ];
                const files = renderedFiles(await planOf("hanzo-k8s"));
                for (const cases of rounds) {
                    const postgresqlConf = `${files.postgresqlConf}${cases.map(([n, v]) => `${n} = ${v}\n`).join("")}`;
                    server.restart({ ...files, postgresqlConf });
                    // PostgreSQL's units are the module's: a bare number is read in SETTING_UNITS.
                    const admin = await server.admin();
                    for (const [name] of cases) {
                        const unit = (await admin.query("SELECT unit FROM pg_settings WHERE name = $1", [name])).rows[0].unit;
                        assert.strictEqual(SETTING_UNITS[name], unit, name);
                    }
                    await admin.end();
                    const failing = (await verify(spec, server.adminUrl()))
                        .filter((r) => !r.ok && r.object.startsWith("setting "))
                        .map((r) => r.object.slice("setting ".length));
                    const plan = await planCopy();
                    conf(plan)["postgresql.conf"] = postgresqlConf;
                    const flagged = (await violations(serverConfiguration, plan)).map(
                        (v) => /postgresql\.conf sets ([a-z_]+) =/.exec(v)?.[1],
                    );
                    const different = cases.filter(([, , same]) => !same).map(([n]) => n);
                    assert.deepStrictEqual(failing.sort(), [...different].sort(), "verifier");
                    assert.deepStrictEqual(flagged.sort(), [...different].sort(), "pack");
                    for (const [name, value, same] of cases) {
                        const rendered = parsePostgresqlConf(files.postgresqlConf).get(name)!;
                        assert.strictEqual(sameSetting(name, value, rendered), same, `${name} = ${value} vs ${rendered}`);
                    }
                }
                server.restart(files);
            });

            it("role attributes: the program, init-sql, the pack and the verifier name the same five", async () => {
                const result = await planOf("hanzo-k8s");
                // The program: every service role states each attribute false.
                for (const r of result.plan.resources.filter((x) => x.type === TYPE.role && String(x.inputs.name).endsWith("_user"))) {
                    assert.deepStrictEqual(
                        FORBIDDEN_ROLE_ATTRIBUTES.map((a) => r.inputs[a.input]),
                        FORBIDDEN_ROLE_ATTRIBUTES.map(() => false),
                        String(r.inputs.name),
                    );
                }
                // init-sql: NO<attribute> for each.
                assert.match(
                    renderInitSql(result.plan),
                    new RegExp(`ALTER ROLE "iam_user" WITH LOGIN ${FORBIDDEN_ROLE_ATTRIBUTES.map((a) => `NO${a.sql}`).join(" ")} INHERIT`),
                );
                for (const a of FORBIDDEN_ROLE_ATTRIBUTES) {
                    // The pack: a role with the attribute.
                    const plan = await planCopy();
                    add(plan, TYPE.role, "rogue", { name: "cloud_user", login: true, [a.input]: true });
                    assert.deepStrictEqual(
                        (await violations(noSuperuserRoles, plan)).map((v) => /has ([A-Z]+);/.exec(v)?.[1]),
                        [a.sql],
                        a.sql,
                    );
                    // PostgreSQL and the verifier: the same attribute on the live role.
                    server.psql(`ALTER ROLE cloud_user ${a.sql}`);
                    const role = (await verify(spec, server.adminUrl())).find(
                        (r) => r.object === "role cloud_user" && !r.ok && r.detail.startsWith("has "),
                    );
                    server.psql(`ALTER ROLE cloud_user NO${a.sql}`);
                    assert.strictEqual(role?.detail, `has ${a.sql}`, a.sql);
                }
            });
        });
    });

    describe("naming (service, database and role names)", () => {
        // The rule: the name's own problem, else a name PostgreSQL keeps, else its role's problem.
        const rule = (name: string) => identifierProblem(name) ?? reservedDatabaseProblem(name) ?? identifierProblem(roleNameFor(name));
        const NAMES = [
            "billing",
            "billing_api",
            "b".repeat(58),
            "Billing",
            "billing-api",
            "1billing",
            "billing$",
            "b".repeat(59),
            "b".repeat(64),
            "postgres",
            "template1",
            "pg_cron",
        ];

        it("the rule: each case's verdict", () => {
            assert.deepStrictEqual(
                NAMES.map((n) => rule(n) === undefined),
                [true, true, true, false, false, false, false, false, false, false, false, false],
            );
        });

        it("the config loader and the pack (through the analyzer) accept and reject the same names, with the rule's words", async () => {
            for (const name of NAMES) {
                const problem = rule(name);
                const loader = loaderProblems({ ...VALID, services: [name] });
                const plan = await planCopy();
                add(
                    plan,
                    TYPE.database,
                    "extra-db",
                    { name, owner: roleNameFor(name) },
                    { options: { protect: true, retainOnDelete: true } },
                );
                add(plan, TYPE.role, "extra-role", { name: roleNameFor(name), login: true });
                const pack = await violations(postgresNaming, plan);
                if (problem === undefined) {
                    assert.deepStrictEqual([loader, pack], [undefined, []], name);
                } else {
                    assert.strictEqual(loader?.length, 1, name);
                    assert.ok(
                        loader[0].startsWith(`hanzo-sql:services[0].name = "${name}": `) && loader[0].includes(problem),
                        `${name}: ${loader}`,
                    );
                    // The database's line first (a role named after an invalid database is invalid too).
                    assert.ok(pack.length >= 1 && pack[0].endsWith(` ${problem}.`), `${name}: ${pack.join("\n")}`);
                }
            }
        });
    });
});
