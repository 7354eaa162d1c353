/**
 * npm run forward -- [--namespace hanzo] [--pod postgres-0] [--port 5432] [--wait 1800]
 *
 * The admin connection of `pulumi up` from a workstation, through a rollout of the server's pod
 * (docs/running-pulumi-up.md). `kubectl port-forward` exits when its pod goes away ("lost connection to pod"),
 * and the postgresql provider does not retry a refused connection, so a bare forward breaks every `up` that
 * restarts the server (image, configuration, admin password, adoption). This keeps a listener on
 * 127.0.0.1:<port> for its whole life and restarts `kubectl port-forward` (on an internal port) whenever it
 * exits; each client connection is relayed to the current forward, and while there is none (the pod is
 * restarting) the client's connection is held, not refused, until a forward is back or `--wait` seconds pass.
 * `KUBECTL` names the kubectl binary (default `kubectl`).
 */
import { ChildProcess, spawn } from "child_process";
import { PRIMARY_POD } from "../policies/standard/replication";
import * as net from "net";
import { POSTGRES_PORT } from "../policies/standard/ports";
import { Command, Flag, integerFlag, runCommand } from "./cli";

export const FORWARD_COMMAND = {
    name: "npm run forward --",
    summary:
        "Forwards 127.0.0.1:<port> to the server's pod through `kubectl port-forward`, restarted whenever it exits, holding client connections " +
        "while the pod restarts instead of refusing them; runs until interrupted. Exits 2 on a bad command line.",
    flags: {
        namespace: { type: "string", value: "<name>", description: "namespace of the server's pod (default hanzo)" },
        pod: { type: "string", value: "<name>", description: "the server's pod (default postgres-0)" },
        port: { type: "string", value: "<port>", description: `local port to listen on, and the pod's port (default ${POSTGRES_PORT})` },
        wait: {
            type: "string",
            value: "<seconds>",
            description: "how long a client's connection is held while no forward runs (default 1800: the rollout timeout's order)",
        },
    },
} as const satisfies Command<Record<string, Flag>>;

export interface ForwardOptions {
    readonly namespace: string;
    readonly pod: string;
    /** Where clients connect (127.0.0.1). */
    readonly localPort: number;
    /** The pod's port. */
    readonly remotePort: number;
    /** How long a client's connection is held while no forward runs, in milliseconds. */
    readonly waitMs: number;
    /** The kubectl command: its binary, and any arguments before kubectl's own. */
    readonly kubectl: readonly string[];
    /** Where the forward's own messages go (never a password: it sees none). */
    readonly log: (line: string) => void;
}

/** A running reconnecting forward. */
export interface Forward {
    /** The local port clients connect to. */
    readonly port: number;
    /** How many times kubectl was started. */
    starts(): number;
    close(): Promise<void>;
}

/** A free loopback port, from the kernel. */
function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const { port } = s.address() as net.AddressInfo;
            s.close(() => resolve(port));
        });
    });
}

/** Starts the listener and the kubectl loop; resolves once the listener accepts connections. */
export async function startForward(opts: ForwardOptions): Promise<Forward> {
    const internal = await freePort();
    let child: ChildProcess | undefined;
    let closing = false;
    let starts = 0;
    let restart: NodeJS.Timeout | undefined;

    const runKubectl = () => {
        if (closing) {
            return;
        }
        starts += 1;
        child = spawn(
            opts.kubectl[0],
            [...opts.kubectl.slice(1), "-n", opts.namespace, "port-forward", `pod/${opts.pod}`, `${internal}:${opts.remotePort}`],
            {
                stdio: ["ignore", "ignore", "pipe"],
            },
        );
        let stderr = "";
        child.stderr?.on("data", (d) => (stderr += String(d)));
        child.on("error", (e) => opts.log(`forward: cannot run ${opts.kubectl[0]}: ${e.message}`));
        child.on("exit", (code, signal) => {
            child = undefined;
            if (closing) {
                return;
            }
            opts.log(
                `forward: kubectl port-forward exited (${signal ?? code})${stderr ? `: ${stderr.trim().split("\n").pop()}` : ""}; restarting`,
            );
            restart = setTimeout(runKubectl, 1000);
        });
    };

    /** Connects to the current forward, retrying while none listens, until `deadline`. */
    const upstream = (deadline: number): Promise<net.Socket> =>
        new Promise((resolve, reject) => {
            const attempt = () => {
                const s = net.connect(internal, "127.0.0.1");
                s.once("connect", () => {
                    s.removeAllListeners("error");
                    resolve(s);
                });
                s.once("error", (e: NodeJS.ErrnoException) => {
                    s.destroy();
                    if (closing || Date.now() >= deadline || e.code !== "ECONNREFUSED") {
                        reject(e);
                    } else {
                        setTimeout(attempt, 250);
                    }
                });
            };
            attempt();
        });

    const sockets = new Set<net.Socket>();
    /**
     * Relays one client. Until the pod's side has sent its first byte, what the client sent is kept, and an
     * upstream that closes first (a kubectl that accepted the connection as its pod went away) is replaced by a
     * new one, to which it is sent again; from the first byte on, the two are piped.
     */
    const relay = (client: net.Socket) => {
        const deadline = Date.now() + opts.waitMs;
        const sent: Buffer[] = [];
        let answered = false;
        const keep = (d: Buffer) => sent.push(d);
        client.on("data", keep);
        const connect = () => {
            upstream(deadline).then(
                (up) => {
                    sockets.add(up);
                    sent.forEach((d) => up.write(d));
                    const forwardClient = (d: Buffer) => up.write(d);
                    client.on("data", forwardClient);
                    up.on("data", (d: Buffer) => {
                        if (!answered) {
                            answered = true;
                            client.off("data", keep);
                            sent.length = 0;
                        }
                        client.write(d);
                    });
                    up.on("error", () => up.destroy());
                    up.on("close", () => {
                        sockets.delete(up);
                        client.off("data", forwardClient);
                        if (answered || client.destroyed || closing) {
                            client.destroy();
                        } else {
                            setTimeout(connect, 250);
                        }
                    });
                    client.on("close", () => up.destroy());
                },
                (e: Error) => {
                    opts.log(`forward: no forward to ${opts.namespace}/${opts.pod} for this connection: ${e.message}`);
                    client.destroy();
                },
            );
        };
        connect();
    };
    const server = net.createServer((client) => {
        sockets.add(client);
        client.on("close", () => sockets.delete(client));
        client.on("error", () => client.destroy());
        relay(client);
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(opts.localPort, "127.0.0.1", () => resolve());
    });
    runKubectl();
    return {
        port: (server.address() as net.AddressInfo).port,
        starts: () => starts,
        close: () =>
            new Promise<void>((resolve) => {
                closing = true;
                if (restart) {
                    clearTimeout(restart);
                }
                child?.kill("SIGTERM");
                sockets.forEach((s) => s.destroy());
                server.close(() => resolve());
            }),
    };
}

if (require.main === module) {
    runCommand(FORWARD_COMMAND, { prefix: "forward failed", code: 1 }, async ({ values }) => {
        const port = integerFlag("--port", values.port, POSTGRES_PORT);
        const forward = await startForward({
            namespace: values.namespace ?? "hanzo",
            pod: values.pod ?? PRIMARY_POD,
            localPort: port,
            remotePort: port,
            waitMs: integerFlag("--wait", values.wait, 1800) * 1000,
            kubectl: [process.env.KUBECTL ?? "kubectl"],
            log: (line) => process.stderr.write(`${line}\n`),
        });
        process.stderr.write(`forward: 127.0.0.1:${forward.port} -> ${values.namespace ?? "hanzo"}/${values.pod ?? PRIMARY_POD}:${port}\n`);
        await new Promise<void>((resolve) => {
            const stop = () => void forward.close().then(resolve);
            process.once("SIGINT", stop);
            process.once("SIGTERM", stop);
        });
    });
}
