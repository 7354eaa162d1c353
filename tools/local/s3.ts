/** A real S3 API on loopback (s3rver) and a runner for the rendered scripts with Debian's tools (tests and benchmarks). */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PG_BIN, freePort } from "../pg/server";

// s3rver ships no typings.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver") as new (opts: Record<string, unknown>) => { run(): Promise<unknown>; close(): Promise<void> };

export class S3Server {
    private constructor(
        private readonly server: { close(): Promise<void> },
        readonly dir: string,
        readonly port: number,
        readonly bucket: string,
        readonly address = "127.0.0.1",
    ) {}

    get endpoint(): string {
        return `http://${this.address}:${this.port}`;
    }

    /** Starts s3rver with one bucket, path-style addressing, on a free port of `address` (loopback, or a pod network's gateway). */
    static async start(bucket: string, address = "127.0.0.1"): Promise<S3Server> {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-s3-"));
        const port = await freePort();
        const server = new S3rver({ port, address, silent: true, directory: dir, vhostBuckets: false, configureBuckets: [{ name: bucket }] });
        await server.run();
        return new S3Server(server, dir, port, bucket, address);
    }

    /** Environment for the scripts and the aws CLI. */
    env(prefix: string): Record<string, string> {
        return {
            S3_ENDPOINT: this.endpoint, S3_BUCKET: this.bucket, S3_PREFIX: prefix,
            AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_DEFAULT_REGION: "us-east-1",
        };
    }

    /** Every key in the bucket under a prefix, sorted. */
    keys(prefix = ""): string[] {
        const root = path.join(this.dir, this.bucket);
        const out: string[] = [];
        const walk = (d: string) => {
            for (const e of fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }) : []) {
                const p = path.join(d, e.name);
                if (e.isDirectory()) {
                    walk(p);
                } else if (e.name.endsWith("._S3rver_object")) {
                    out.push(path.relative(root, p).slice(0, -"._S3rver_object".length));
                }
            }
        };
        walk(root);
        return out.filter((k) => k.startsWith(prefix)).sort();
    }

    /** An object's bytes. */
    read(key: string): Buffer {
        return fs.readFileSync(path.join(this.dir, this.bucket, `${key}._S3rver_object`));
    }

    /** Ages an object: its LastModified is its file's mtime. */
    age(key: string, days: number): void {
        const when = new Date(Date.now() - days * 86_400_000 - 60_000);
        fs.utimesSync(path.join(this.dir, this.bucket, `${key}._S3rver_object`), when, when);
    }

    async stop(): Promise<void> {
        await this.server.close();
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

export interface ScriptRun {
    readonly status: number;
    readonly stdout: string;
    readonly stderr: string;
}

/**
 * Runs a rendered script with bash, Debian's aws CLI and PostgreSQL 15's client tools first on PATH, and
 * only the environment given (plus PATH and HOME). Asynchronous on purpose: the S3 server runs in this
 * process and must keep answering while the script talks to it.
 */
export function runScript(script: string, env: Record<string, string>, args: string[] = []): Promise<ScriptRun> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-script-"));
    const file = path.join(dir, "script.sh");
    fs.writeFileSync(file, script);
    return new Promise((resolve, reject) => {
        const child = spawn("bash", [file, ...args], { env: { PATH: `${PG_BIN}:/usr/bin:/bin`, HOME: dir, ...env } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            fs.rmSync(dir, { recursive: true, force: true });
            resolve({ status: code ?? -1, stdout, stderr });
        });
    });
}
