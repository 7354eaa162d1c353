/**
 * What the start script and the readiness probe of a stack with standbys (render/scripts/replica-start.sh,
 * role-ready.sh) run, and with whose privileges: every session of the administrator passes the privileged
 * search_path on connect (`PGOPTIONS`, render/privilegedSession.ts), as the backup scripts' lib.sh does; the other
 * connections are the replication role's (a replication connection opens no database session).
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { MAX_STANDBYS } from "../../policies/standard/replication";
import { PRIVILEGED_PG_OPTIONS } from "../../render/privilegedSession";

const SCRIPTS = path.join(__dirname, "..", "..", "..", "render", "scripts");
const read = (f: string) => fs.readFileSync(path.join(SCRIPTS, f), "utf8");

/**
 * Every line that runs a libpq client (psql, pg_receivewal, pg_basebackup, pg_rewind, pg_isready, or the script's
 * admin_psql) as a command (at the start of the line, of a command substitution, or after an environment
 * assignment), and admin_psql's definition; trimmed.
 */
function clientLines(script: string): string[] {
    return script
        .split("\n")
        .map((l) => l.trim())
        .filter(
            (l) => /(^|\$\(|" )(admin_psql|psql|pg_receivewal|pg_basebackup|pg_rewind|pg_isready) /.test(l) || l.startsWith("admin_psql()"),
        );
}

describe("render/scripts: who the standbys' scripts connect as, and with which search_path", () => {
    it("replica-start.sh: the administrator's psql sessions (CHECKPOINT, the control file's timeline) go through admin_psql with PGOPTIONS; the rest is the replication role's", () => {
        const s = read("replica-start.sh");
        assert.deepStrictEqual(clientLines(s), [
            `admin_psql() { PGOPTIONS="${PRIVILEGED_PG_OPTIONS}" psql -XAtq "$@"; }`,
            `row=$(psql -XAtq -d "$conninfo dbname=replication replication=true" -c IDENTIFY_SYSTEM 2>/dev/null) || return 1`,
            `pg_receivewal --create-slot --if-not-exists --slot="$SLOT" --no-password -d "$conninfo"`,
            // The standbys' slots the stack no longer declares, dropped as the replication role (REPLICATION suffices).
            `if out=$(pg_receivewal --drop-slot --slot="$slot" --no-password -d "$conninfo" 2>&1); then`,
            `pg_receivewal --drop-slot --slot="$SLOT" --no-password -d "$conninfo" 2>/dev/null || true`,
            `pg_basebackup --pgdata="$PGDATA.clone" --create-slot --slot="$SLOT" --wal-method=stream --checkpoint=fast \\`,
            `admin_psql -d "$source" -c CHECKPOINT`,
            `control_timeline=$(admin_psql -d "$source" -c 'SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()')`,
            // pg_rewind clears its own session's search_path first (src/bin/pg_rewind/libpq_source.c, init_libpq_conn:
            // ALWAYS_SECURE_SEARCH_PATH_SQL, "could not clear search_path"; the string is in Debian's pg_rewind 15).
            `pg_rewind --target-pgdata="$PGDATA" --config-file="$CONFIG_FILE" \\`,
        ]);
        // $conninfo is the replication role's, $source the administrator's.
        assert.match(s, /^conninfo="host=\$PRIMARY_HOST port=\$PRIMARY_PORT user=hanzo_replication /m);
        assert.match(s, /^ {8}source="host=\$PRIMARY_HOST port=\$PRIMARY_PORT user=hanzo dbname=postgres /m);
    });

    it("replica-start.sh's MAX_STANDBYS is the schema's", () => {
        assert.match(read("replica-start.sh"), new RegExp(`^MAX_STANDBYS=${MAX_STANDBYS}$`, "m"));
    });

    it("replica-start.sh refuses a DECLARED_STANDBYS that is not a count before any arithmetic (bash would run a command inside (( )))", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "replica-start-"));
        try {
            const marker = path.join(dir, "ran");
            const env = {
                PATH: "/usr/bin:/bin",
                PGDATA: dir,
                PRIMARY_HOST: "postgres",
                PRIMARY_PORT: "5432",
                SLOT: "postgres_standby_0",
                SERVER_ROLE: "standby",
                REPLICATION_PGPASS: dir,
                RUN_DIR: dir,
                CONFIG_FILE: path.join(dir, "postgresql.conf"),
                STANDBYS_HOST: "postgres-ro",
                DECLARED_STANDBYS: `a[$(touch ${marker})]`,
            };
            const r = spawnSync("bash", [path.join(SCRIPTS, "replica-start.sh")], { env, encoding: "utf8" });
            assert.strictEqual(r.status, 1);
            assert.strictEqual(r.stderr, `replica-start: DECLARED_STANDBYS must be a whole number, not 'a[$(touch ${marker})]'\n`);
            assert.ok(!fs.existsSync(marker), "the text was not evaluated");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("role-ready.sh: the probe's query as the administrator passes PGOPTIONS", () => {
        assert.deepStrictEqual(clientLines(read("role-ready.sh")), [
            `pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER" -d postgres`,
            `recovery=$(PGOPTIONS="${PRIVILEGED_PG_OPTIONS}" psql -XAtq -U "$POSTGRES_USER" -d postgres -c 'SELECT pg_catalog.pg_is_in_recovery()')`,
        ]);
    });
});
