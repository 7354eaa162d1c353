/** A real S3 API on loopback (s3rver) and a runner for the rendered scripts with Debian's tools (tests and benchmarks). */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { PG_BIN, freePort } from "../pg/server";

const S3RVER = require.resolve("s3rver/bin/s3rver.js");

/**
 * The name a TLS client reaches `address` by. pgBackRest 2.45 matches the endpoint only against DNS names
 * of the certificate (an IP subjectAltName fails with "unable to find hostname '127.0.0.1' in certificate"),
 * so loopback is `localhost` (/etc/hosts); any other address is used as is.
 */
function tlsHost(address: string): string {
    return address === "127.0.0.1" ? "localhost" : address;
}

/**
 * s3rver in a child process started with `--openssl-legacy-provider`: its ListObjectsV2 continuation token
 * is DES-encrypted, which Node 20's OpenSSL 3 refuses otherwise, so only then does it paginate (1000 keys a
 * page) as every real S3 API does.
 */
export class S3Server {
    private constructor(
        private child: ChildProcess | undefined,
        readonly dir: string,
        readonly port: number,
        readonly bucket: string,
        readonly address = "127.0.0.1",
        /** The self-signed certificate (PEM) the server presents when it serves TLS (pgBackRest speaks S3 over TLS only). */
        readonly certFile?: string,
    ) {}

    get endpoint(): string {
        return this.certFile ? `https://${tlsHost(this.address)}:${this.port}` : `http://${this.address}:${this.port}`;
    }

    /**
     * Starts s3rver with one bucket, path-style addressing, on a free port of `address` (loopback, or a pod
     * network's gateway). With `tls`, it serves HTTPS with a key and self-signed certificate that openssl
     * makes now for that address (the certificate, `certFile`, is the CA a client verifies it with).
     */
    static async start(bucket: string, address = "127.0.0.1", opts: { tls?: boolean; tlsName?: string } = {}): Promise<S3Server> {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-s3-"));
        fs.chmodSync(dir, 0o755);
        let certFile: string | undefined;
        if (opts.tls) {
            certFile = path.join(dir, "tls.crt");
            execFileSync(
                "openssl",
                ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", `/CN=${opts.tlsName ?? tlsHost(address)}`].concat(
                    [
                        "-addext",
                        `subjectAltName=DNS:${opts.tlsName ?? tlsHost(address)},IP:${address}`,
                        "-keyout",
                        path.join(dir, "tls.key"),
                        "-out",
                        certFile,
                    ],
                ),
                { stdio: "ignore" },
            );
            fs.chmodSync(certFile, 0o644);
        }
        const server = new S3Server(undefined, dir, await freePort(), bucket, address, certFile);
        await server.resume();
        return server;
    }

    /** Stops the server, keeping its data (an S3 outage); `resume` starts it again on the same port. */
    async pause(): Promise<void> {
        const child = this.child;
        this.child = undefined;
        if (child && child.exitCode === null) {
            await new Promise<void>((resolve) => {
                child.once("exit", () => resolve());
                child.kill("SIGTERM");
            });
        }
    }

    /**
     * Starts the server (again). `clockOffset` (libfaketime's notation, e.g. "+2d") runs it with its clock moved,
     * as a client whose clock is moved must be served: S3 refuses a request whose signed time is more than 15
     * minutes from its own (RequestTimeTooSkewed), and so does s3rver.
     */
    async resume(opts: { clockOffset?: string } = {}): Promise<void> {
        const faketime = opts.clockOffset
            ? {
                  LD_PRELOAD: `/usr/lib/${os.arch() === "arm64" ? "aarch64" : "x86_64"}-linux-gnu/faketime/libfaketime.so.1`,
                  FAKETIME: opts.clockOffset,
              }
            : {};
        const child = spawn(
            process.execPath,
            [
                "--openssl-legacy-provider",
                S3RVER,
                "-d",
                this.dir,
                "-a",
                this.address,
                "-p",
                String(this.port),
                "--no-vhost-buckets",
                "--silent",
                "--configure-bucket",
                this.bucket,
                ...(this.certFile ? ["--key", path.join(this.dir, "tls.key"), "--cert", this.certFile] : []),
            ],
            {
                stdio: ["ignore", "ignore", "pipe"],
                env: { ...process.env, ...faketime },
            },
        );
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        this.child = child;
        // Ready once the port answers (bounded: 20 s).
        for (let i = 0; i < 200; i++) {
            if (child.exitCode !== null) {
                throw new Error(`s3rver exited: ${stderr}`);
            }
            const open = await new Promise<boolean>((resolve) => {
                const sock = net.connect({ host: this.address, port: this.port }, () => (sock.destroy(), resolve(true)));
                sock.on("error", () => resolve(false));
            });
            if (open && fs.existsSync(path.join(this.dir, this.bucket))) {
                return;
            }
            await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`s3rver did not start on port ${this.port}: ${stderr}`);
    }

    /** Environment for the scripts and the aws CLI. */
    env(prefix: string): Record<string, string> {
        return {
            S3_ENDPOINT: this.endpoint,
            S3_BUCKET: this.bucket,
            S3_PREFIX: prefix,
            AWS_ACCESS_KEY_ID: "S3RVER",
            AWS_SECRET_ACCESS_KEY: "S3RVER",
            AWS_DEFAULT_REGION: "us-east-1",
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
        await this.pause();
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
 * only the environment given (plus PATH and HOME). Asynchronous, so the test can act while it runs.
 */
export function runScript(script: string, env: Record<string, string>, args: string[] = []): Promise<ScriptRun> {
    return runScriptFile({ "script.sh": script }, "script.sh", env, args);
}

/**
 * Runs one file of a set (the backup ConfigMap's files, written side by side as its volume mounts them),
 * as runScript does.
 */
export function runScriptFile(
    files: Record<string, string>,
    name: string,
    env: Record<string, string>,
    args: string[] = [],
    user?: { uid: number; gid: number },
): Promise<ScriptRun> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-script-"));
    fs.chmodSync(dir, 0o755);
    for (const [f, text] of Object.entries(files)) {
        fs.writeFileSync(path.join(dir, f), text);
    }
    const file = path.join(dir, name);
    return new Promise((resolve, reject) => {
        const child = spawn("bash", [file, ...args], { env: { PATH: `${PG_BIN}:/usr/bin:/bin`, HOME: dir, ...env }, ...(user ?? {}) });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), 1_800_000); // a safety net; tests and benchmarks bound themselves
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            fs.rmSync(dir, { recursive: true, force: true });
            resolve({ status: code ?? -1, stdout, stderr });
        });
    });
}
