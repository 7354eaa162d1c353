import * as assert from "assert";
import { ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { archiveAlerts, renderArchiveMetricsQueries, serverAlerts } from "../../render/alerts";
import { freePort } from "../harness/pg/server";
import { StackServer, stackServer, tryConnect } from "../support/db";
import { TYPES, resource } from "../support/plan";
import { checkRules, testRules } from "../support/promtool";
import { httpGet, startExporter } from "../support/exporter";

const groups = [serverAlerts({ namespace: "hanzo", job: "hanzo/postgres", volumeBytes: 50 * 2 ** 30 })];

/** Metric names a rule's expression reads (identifiers followed by `{`), without Prometheus' own `up`. */
function metricsOf(expr: string): string[] {
    return [...expr.matchAll(/([a-z_][a-z0-9_]*)\{/g)].map((m) => m[1]).filter((m) => m !== "up");
}

describe("metrics: postgres_exporter as the monitoring role, on a real server", function () {
    this.timeout(120_000);
    let s: StackServer;
    let exporter: ChildProcess;
    let metrics: string;
    let queries: string;

    before(async () => {
        s = await stackServer("hanzo-k8s");
        const port = await freePort();
        // The sidecar's settings, from the plan, pointed at this server.
        const sts = resource(s.plan, TYPES.statefulSet, "hanzo-sql-postgres-statefulset").inputs as any;
        const sidecar = sts.spec.template.spec.containers.find((c: { name: string }) => c.name === "exporter");
        assert.strictEqual(sidecar.env[0].value, "127.0.0.1:5432/postgres?sslmode=disable");
        // The archive alerts' query file, as the exporter's ConfigMap would carry it (render/alerts.ts).
        queries = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "exporter-queries-")), "queries.yaml");
        fs.writeFileSync(queries, renderArchiveMetricsQueries());
        exporter = startExporter(port, s.server.port, "hanzo_monitor", s.passwords.hanzo_monitor, queries);
        // Some load, so the activity and bgwriter views have something to show.
        const c = (await tryConnect(s.server.tcp("iam_user", s.passwords.iam_user, "iam"))) as any;
        await c.query("CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g");
        await c.end();
        for (let i = 0; i < 50; i++) {
            try {
                const r = await httpGet(`http://127.0.0.1:${port}/metrics`);
                if (r.status === 200 && /^pg_up 1$/m.test(r.body)) {
                    metrics = r.body;
                    break;
                }
            } catch {
                // not listening yet
            }
            await new Promise((r) => setTimeout(r, 200));
        }
    });
    after(() => {
        exporter?.kill();
        if (queries) fs.rmSync(path.dirname(queries), { recursive: true, force: true });
        s?.server.stop();
    });

    it("connects as hanzo_monitor, a member of pg_monitor and nothing more", async () => {
        assert.ok(metrics, "the exporter reports pg_up 1");
        const admin = await s.server.admin();
        const role = (
            await admin.query(
                `SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, array(SELECT b.rolname::text FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid) AS member_of
               FROM pg_roles r WHERE rolname = 'hanzo_monitor'`,
            )
        ).rows[0];
        await admin.end();
        assert.deepStrictEqual(role, { rolsuper: false, rolcreaterole: false, rolcreatedb: false, member_of: ["pg_monitor"] });
    });

    it("exposes every metric the alert rules use", () => {
        const used = [...new Set(groups.flatMap((g) => g.rules.flatMap((r) => metricsOf(r.expr))))].sort();
        assert.deepStrictEqual(used, [
            "pg_database_size_bytes",
            "pg_stat_activity_count",
            "pg_stat_bgwriter_buffers_backend_total",
            "pg_up",
        ]);
        for (const m of used) {
            assert.match(metrics, new RegExp(`^${m}(\\{[^}]*\\})? `, "m"), m);
        }
        assert.match(metrics, /^pg_database_size_bytes\{datname="iam",server="127\.0\.0\.1:\d+"\} \d/m);
        assert.ok(!/^pg_stat_bgwriter_buffers_backend /m.test(metrics), "0.11 names the counter with _total, not as HIP-29 prints it");
    });

    it("exposes every metric the WAL archive alerts use, as the monitoring role (pg_ls_waldir, pg_ls_archive_statusdir via pg_monitor)", () => {
        const archive = archiveAlerts({ namespace: "hanzo", volumeBytes: 50 * 2 ** 30, walBudgetBytes: 12.5 * 2 ** 30 });
        const used = [...new Set(archive.rules.flatMap((r) => metricsOf(r.expr)))].sort();
        assert.deepStrictEqual(used, [
            "hanzo_wal_bytes",
            "hanzo_wal_ready_segments",
            "pg_stat_archiver_failed_count",
            "pg_stat_archiver_last_archive_age",
        ]);
        for (const m of used) {
            assert.match(metrics, new RegExp(`^${m}(\\{[^}]*\\})? `, "m"), m);
        }
        // No archiving on this server: nothing waits, and pg_wal holds at least one 16 MiB segment.
        assert.match(metrics, /^hanzo_wal_ready_segments\{[^}]*\} 0$/m);
        const bytes = Number(/^hanzo_wal_bytes\{[^}]*\} (\S+)$/m.exec(metrics)?.[1]);
        assert.ok(bytes >= 16 * 2 ** 20, `hanzo_wal_bytes ${bytes}`);
    });
});

describe("server alerts (promtool)", () => {
    const pod = { namespace: "hanzo", pod: "postgres-0" };
    const sel = 'namespace="hanzo", pod="postgres-0"';

    it("pass promtool check rules", () => {
        const r = checkRules(groups);
        assert.strictEqual(r.status, 0, r.out);
        assert.match(r.out, /SUCCESS: 5 rules found/);
    });

    it("fire on more than 150 connections, a database over 40GiB, growing backend writes, and PostgreSQL down; not below", () => {
        const r = testRules(groups, [
            {
                series: {
                    [`pg_stat_activity_count{${sel}, datname="iam", state="active"}`]: "100x20 160x20",
                    [`pg_stat_activity_count{${sel}, datname="kms", state="idle"}`]: "10x40",
                    [`pg_database_size_bytes{${sel}, datname="iam"}`]: `${10 * 2 ** 30}x20 ${50 * 2 ** 30}x40`,
                    [`pg_stat_bgwriter_buffers_backend_total{${sel}}`]: "500x30 500+10x60",
                    [`pg_up{${sel}}`]: "1x10 0x10",
                    [`up{${sel}, job="hanzo/postgres"}`]: "1x60",
                },
                expect: [
                    { at: "15m", alert: "PostgresTooManyConnections", firing: [] },
                    { at: "30m", alert: "PostgresTooManyConnections", firing: [pod] },
                    { at: "15m", alert: "PostgresDatabaseTooLarge", firing: [] },
                    { at: "40m", alert: "PostgresDatabaseTooLarge", firing: [{ ...pod, datname: "iam" }] },
                    { at: "40m", alert: "PostgresBackendBufferWrites", firing: [] },
                    { at: "80m", alert: "PostgresBackendBufferWrites", firing: [pod] },
                    { at: "5m", alert: "PostgresDown", firing: [] },
                    { at: "15m", alert: "PostgresDown", firing: [pod] },
                    { at: "30m", alert: "PostgresExporterDown", firing: [] },
                ],
            },
        ]);
        assert.strictEqual(r.status, 0, r.out);
    });

    it("fire when the exporter is down, and when it is not scraped at all (a missing series does not silence it)", () => {
        const r = testRules(groups, [
            {
                series: { [`up{${sel}, job="hanzo/postgres"}`]: "1x5 0x20" },
                expect: [
                    { at: "4m", alert: "PostgresExporterDown", firing: [] },
                    { at: "15m", alert: "PostgresExporterDown", firing: [pod] },
                ],
            },
            {
                series: { 'up{namespace="other", job="x"}': "1x20" },
                expect: [{ at: "10m", alert: "PostgresExporterDown", firing: [{ namespace: "hanzo", job: "hanzo/postgres" }] }],
            },
        ]);
        assert.strictEqual(r.status, 0, r.out);
    });
});
