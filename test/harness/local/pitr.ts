/**
 * A server that archives with pgBackRest into s3rver over TLS, as the stack renders it (render/pitr.ts), for the
 * PITR tests and `npm run bench:pitr`: the rendered postgresql.conf (archive settings included), the rendered
 * pgbackrest.conf of the server and of the backup Job, the S3 key only in pgBackRest's env variables, and
 * restores into scratch servers.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ADMIN, PgServer } from "../pg/server";
import { S3Server } from "./s3";
import { renderPostgresqlConf } from "../../../render/postgresqlConf";
import { renderPgHba } from "../../../render/pgHba";
import { hbaRules } from "../../../policies/standard/pgHba";
import { serverSettings } from "../../../policies/standard/settings";
import {
    PGBACKREST_KEY_ENV,
    PITR_STANZA,
    PitrSpec,
    RecoveryTarget,
    archiveSettings,
    renderBackupPgbackrestConf,
    renderServerPgbackrestConf,
    restoreArgs,
} from "../../../render/pitr";

const GiB = 2 ** 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PitrInfo {
    backup: {
        label: string;
        type: string;
        archive: { start: string; stop: string };
        info: { size: number; repository: { delta: number } };
    }[];
    archive: { max: string | null; min: string | null }[];
}

export interface PitrRigOptions {
    readonly retentionDays?: number;
    readonly archiveTimeoutSeconds?: number;
    readonly memoryBytes?: number;
}

export class PitrRig {
    private readonly savedEnv: Record<string, string | undefined> = {};

    private constructor(
        readonly s3: S3Server,
        readonly server: PgServer,
        readonly work: string,
        readonly spec: PitrSpec,
        readonly files: { postgresqlConf: string; pgHba: string },
    ) {}

    /** s3rver over TLS, a server archiving into it, the stanza created (retried past an archive-push's lock). */
    static async start(opts: PitrRigOptions = {}): Promise<PitrRig> {
        const s3 = await S3Server.start("pitr", "127.0.0.1", { tls: true });
        const work = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-pitr-"));
        fs.chmodSync(work, 0o755);
        fs.mkdirSync(path.join(work, "spool"));
        spawnSync("chown", ["postgres:postgres", path.join(work, "spool")]);
        const saved: Record<string, string | undefined> = {};
        // The bucket's key and secret as the pod gets them: env from the backup Secret, never in a file.
        for (const k of Object.values(PGBACKREST_KEY_ENV)) {
            saved[k] = process.env[k];
            process.env[k] = "S3RVER";
        }
        const memory = opts.memoryBytes ?? GiB;
        const specFor = (pgdata: string, socketPath: string, port: number): PitrSpec => ({
            repo: { endpoint: s3.endpoint, region: "us-east-1", bucket: s3.bucket, prefix: "/pitr", uriStyle: "path", caFile: s3.certFile },
            retentionDays: opts.retentionDays ?? 1,
            pgdata,
            socketPath,
            port,
            user: ADMIN,
            spoolPath: path.join(work, "spool"),
            archiveTimeoutSeconds: opts.archiveTimeoutSeconds ?? 60,
            archiveQueueMaxBytes: 4 * GiB,
            processMax: 2,
            configPath: path.join(work, "pgbackrest.conf"),
        });
        // archive_command names only the config file, so the server can start before its PGDATA is known.
        const placeholder = specFor("/placeholder", "/placeholder", 5432);
        const files = {
            postgresqlConf: renderPostgresqlConf(memory, serverSettings(memory, undefined, { archive: archiveSettings(placeholder) })),
            pgHba: renderPgHba(hbaRules(["10.0.0.0/8"])),
        };
        const server = await PgServer.start(files);
        const spec = specFor(server.dataDir, server.socketDir, server.port);
        fs.writeFileSync(path.join(work, "pgbackrest.conf"), renderServerPgbackrestConf(spec));
        fs.writeFileSync(path.join(work, "backup.conf"), renderBackupPgbackrestConf(spec));
        const rig = new PitrRig(s3, server, work, spec, files);
        Object.assign(rig.savedEnv, saved);
        // stanza-create takes the lock an archive-push of the server may hold (error 050): the backup Job
        // retries it the same way before each backup (it is idempotent).
        for (let i = 0; ; i++) {
            try {
                rig.pgbackrest(["stanza-create"]);
                break;
            } catch (e) {
                if (i >= 20 || !/\[050\]/.test((e as Error).message)) {
                    throw e;
                }
                await sleep(500);
            }
        }
        return rig;
    }

    /** pgbackrest as the postgres OS user with the server's config (or the backup Job's). */
    pgbackrest(args: string[], opts: { job?: boolean; faketime?: string } = {}): string {
        const config = path.join(this.work, opts.job ? "backup.conf" : "pgbackrest.conf");
        const argv = [`--config=${config}`, `--stanza=${PITR_STANZA}`, ...args];
        const cmd = opts.faketime ? ["faketime", "-f", opts.faketime, "pgbackrest", ...argv] : ["pgbackrest", ...argv];
        const r = this.server.runAsPostgres(cmd[0], cmd.slice(1));
        if (r.status !== 0) {
            throw new Error(`pgbackrest ${args.join(" ")} exited ${r.status}: ${r.stdout}${r.stderr}`);
        }
        return r.stdout;
    }

    info(): PitrInfo {
        return (JSON.parse(this.pgbackrest(["info", "--output=json"])) as PitrInfo[])[0];
    }

    /** One row of a query on `srv` (the rig's server by default) as the administrator. */
    async one<T>(sql: string, srv: PgServer = this.server): Promise<T> {
        const c = await srv.admin();
        try {
            return (await c.query(sql)).rows[0] as T;
        } finally {
            await c.end();
        }
    }

    /** Switches to a new segment and waits (bounded: 120 s) until the one just closed is archived. */
    async switchAndArchive(): Promise<string> {
        const { seg } = await this.one<{ seg: string }>("SELECT pg_walfile_name(pg_switch_wal()) AS seg");
        await this.waitArchived(seg);
        return seg;
    }

    /** Waits (bounded) until `seg` is archived. */
    async waitArchived(seg: string, tries = 600): Promise<void> {
        for (let i = 0; i < tries; i++) {
            const { last } = await this.one<{ last: string | null }>("SELECT last_archived_wal AS last FROM pg_stat_archiver");
            if (last !== null && last >= seg) {
                return;
            }
            await sleep(200);
        }
        throw new Error(`segment ${seg} was not archived in time`);
    }

    /**
     * Restores the archive into a fresh scratch server (archive_mode off: it must never push its timeline into
     * the source's stanza), waits (bounded) until recovery has ended, and returns it running.
     */
    async restore(target: RecoveryTarget, adminPassword = this.server.adminPassword): Promise<PgServer> {
        const scratch = await PgServer.start(
            this.files,
            { archive_mode: "off" },
            {
                populate: {
                    adminPassword,
                    run: (dataDir) => {
                        this.pgbackrest(restoreArgs(target, { pgdata: dataDir, archive: false }));
                    },
                },
            },
        );
        for (let i = 0; i < 3000; i++) {
            const { rec } = await this.one<{ rec: boolean }>("SELECT pg_is_in_recovery() AS rec", scratch);
            if (!rec) {
                return scratch;
            }
            await sleep(200);
        }
        scratch.stop();
        throw new Error("recovery did not end");
    }

    async stop(): Promise<void> {
        this.server.stop();
        await this.s3.stop();
        fs.rmSync(this.work, { recursive: true, force: true });
        for (const [k, v] of Object.entries(this.savedEnv)) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
        }
    }
}
