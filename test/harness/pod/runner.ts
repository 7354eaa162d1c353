/**
 * A pod runner for tests: runs a pod template exactly as the plan renders it, the way the kubelet and a
 * container runtime (runc) would, with Linux namespaces directly (util-linux `unshare`, `nsenter`, `setpriv`,
 * iproute2, overlay and bind mounts; root only). What it does, per the Kubernetes API's documented semantics:
 *
 * - **Pod**: one network namespace on a private bridge (test/harness/pod/network.ts), /etc/hosts with the pod's
 *   hostname (and the Services' names unless a cluster DNS stand-in serves them), /etc/hostname,
 *   /etc/resolv.conf as the kubelet writes it (empty without DNS); the NetworkPolicies the network enforces
 *   (test/harness/pod/netpol.ts), selected by the pod's namespace and labels.
 * - **Volumes**, prepared on the host before any container starts, with the kubelet's ownership rules
 *   (kubernetes/kubernetes pkg/volume/volume_linux.go SetVolumeOwnership: with `fsGroup`, every file and
 *   directory gets group fsGroup and mode |= 0660 (0440 for read-only volume types: Secret, ConfigMap),
 *   directories also setgid and g+x; `fsGroupChangePolicy: OnRootMismatch` skips the walk when the root
 *   already matches): Secret and ConfigMap volumes as the AtomicWriter lays them out (`..data` →
 *   timestamped directory, one symlink per key, files root-owned with `items[].mode` or `defaultMode`,
 *   0644 by default); emptyDir 0777 (`medium: Memory` a tmpfs of `sizeLimit`); a PersistentVolume as a
 *   loop-mounted ext4 image whose root holds `lost+found` when fresh.
 * - **Containers**: init containers one after another (each must exit 0), then every container; each in
 *   its own mount, PID, UTS and IPC namespaces (PID 1 is the container's process, as under runc), on an
 *   overlay of the image stand-in (test/harness/pod/images.ts), volumes bind-mounted at their `mountPath`
 *   (`subPath`, `readOnly`), the root remounted read-only for `readOnlyRootFilesystem`; the process runs
 *   with `setpriv`: runAsUser/runAsGroup (container over pod over image), groups = fsGroup +
 *   supplementalGroups + the user's groups in the image, the capability bounding set of containerd's
 *   default set minus `drop` plus `add`, no_new_privs for `allowPrivilegeEscalation: false`. `runAsNonRoot`
 *   with uid 0 fails as the kubelet does. command/args replace the image's Entrypoint/Cmd as in the API;
 *   env from values (with `$(VAR)` expansion), Secret and ConfigMap keys, the downward API's name,
 *   namespace and pod IP; envFrom.
 * - **Probes**: exec probes run inside the container (its namespaces, user and environment), as
 *   `kubectl exec`/CRI ExecSync do; tcpSocket and httpGet from the host to the pod's address, as the
 *   kubelet does. The runner polls faster than `periodSeconds` (tests would otherwise wait for nothing);
 *   `timeoutSeconds` and `failureThreshold` are honoured.
 * - **Stop**: per container, the preStop hook (exec inside the container, within the grace period; a
 *   non-zero exit is what the kubelet reports as a FailedPreStopHook event), then the image's STOPSIGNAL to
 *   PID 1, then SIGKILL when `terminationGracePeriodSeconds` runs out.
 *
 * Not reproduced: resource requests/limits (no cgroup limits), seccomp and AppArmor profiles, the
 * KUBERNETES_SERVICE_* variables and service-account token (no API server), image pulls, restarts
 * (restartPolicy). NetworkPolicies only when the network enforces them (`PodNetwork.enforce`).
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { ImageConfig, imageConfig } from "./images";
import { PodNetwork } from "./network";

/* ---------- the parts of the Kubernetes API the runner reads ---------- */

export interface KeyToPath {
    key: string;
    path: string;
    mode?: number;
}
export interface Volume {
    name: string;
    secret?: { secretName: string; defaultMode?: number; items?: KeyToPath[]; optional?: boolean };
    configMap?: { name: string; defaultMode?: number; items?: KeyToPath[]; optional?: boolean };
    emptyDir?: { medium?: string; sizeLimit?: string };
    persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
    downwardAPI?: { items: { path: string; fieldRef: { fieldPath: string }; mode?: number }[]; defaultMode?: number };
}
export interface VolumeMount {
    name: string;
    mountPath: string;
    subPath?: string;
    readOnly?: boolean;
}
export interface EnvVar {
    name: string;
    value?: string;
    valueFrom?: {
        secretKeyRef?: { name: string; key: string; optional?: boolean };
        configMapKeyRef?: { name: string; key: string; optional?: boolean };
        fieldRef?: { fieldPath: string };
    };
}
export interface Probe {
    exec?: { command: string[] };
    tcpSocket?: { port: number | string; host?: string };
    httpGet?: { path?: string; port: number | string; scheme?: string };
    initialDelaySeconds?: number;
    periodSeconds?: number;
    timeoutSeconds?: number;
    failureThreshold?: number;
    successThreshold?: number;
}
export interface SecurityContext {
    runAsUser?: number;
    runAsGroup?: number;
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
    seccompProfile?: { type: string };
}
export interface Container {
    name: string;
    image: string;
    command?: string[];
    args?: string[];
    workingDir?: string;
    env?: EnvVar[];
    envFrom?: { secretRef?: { name: string }; configMapRef?: { name: string }; prefix?: string }[];
    ports?: { name?: string; containerPort: number; protocol?: string }[];
    volumeMounts?: VolumeMount[];
    securityContext?: SecurityContext;
    startupProbe?: Probe;
    readinessProbe?: Probe;
    livenessProbe?: Probe;
    lifecycle?: { preStop?: { exec?: { command: string[] } }; postStart?: { exec?: { command: string[] } } };
}
export interface PodSecurityContext {
    runAsUser?: number;
    runAsGroup?: number;
    runAsNonRoot?: boolean;
    fsGroup?: number;
    fsGroupChangePolicy?: string;
    supplementalGroups?: number[];
    seccompProfile?: { type: string };
}
export interface PodSpec {
    containers: Container[];
    initContainers?: Container[];
    volumes?: Volume[];
    securityContext?: PodSecurityContext;
    terminationGracePeriodSeconds?: number;
    hostname?: string;
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
    restartPolicy?: string;
    enableServiceLinks?: boolean;
}

/** Key → value, as a Secret's or ConfigMap's data (Secret values already decoded). */
export type DataByName = ReadonlyMap<string, Readonly<Record<string, string>>>;

/* ---------- volumes ---------- */

/**
 * A persistent volume: an ext4 filesystem in a sparse image file, loop-mounted while a pod uses it. A fresh
 * one is a copy of a cached, freshly made filesystem (so its root holds `lost+found`, as a new block
 * storage volume does); the same object keeps its data from one pod to the next.
 */
export class PersistentVolume {
    private constructor(readonly image: string) {}

    /** A fresh, empty ext4 volume of `sizeMiB` (sparse; the pristine image is made once and cached). */
    static fresh(sizeMiB = 2048): PersistentVolume {
        const cache = path.join(os.tmpdir(), "hanzo-sql-pods-cache");
        fs.mkdirSync(cache, { recursive: true });
        const pristine = path.join(cache, `ext4-${sizeMiB}M.img`);
        if (!fs.existsSync(pristine)) {
            const tmp = `${pristine}.${process.pid}`;
            execFileSync("truncate", ["-s", `${sizeMiB}M`, tmp]);
            execFileSync("mkfs.ext4", ["-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", tmp]);
            fs.renameSync(tmp, pristine);
        }
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-pv-"));
        const image = path.join(dir, "volume.img");
        execFileSync("cp", ["--sparse=always", pristine, image]);
        return new PersistentVolume(image);
    }

    /** Deletes the volume's image. */
    remove(): void {
        fs.rmSync(path.dirname(this.image), { recursive: true, force: true });
    }
}

const RW_MASK = 0o660;
const RO_MASK = 0o440;
const EXEC_MASK = 0o110;

/** The kubelet's SetVolumeOwnership: group fsGroup and mode |= mask on everything but symlinks. */
function setVolumeOwnership(dir: string, fsGroup: number | undefined, readOnly: boolean, onRootMismatch: boolean): void {
    if (fsGroup === undefined) {
        return;
    }
    const mask = readOnly ? RO_MASK : RW_MASK;
    if (onRootMismatch) {
        const st = fs.statSync(dir);
        // volume_linux.go requiresPermissionChange: the root's gid, its mask bits and setgid.
        if (st.gid === fsGroup && (st.mode & mask) === mask && (st.mode & 0o2000) !== 0) {
            return;
        }
    }
    const walk = (p: string) => {
        const st = fs.lstatSync(p);
        if (st.isSymbolicLink()) {
            return;
        }
        fs.lchownSync(p, st.uid, fsGroup);
        const perm = st.mode & 0o7777;
        fs.chmodSync(p, st.isDirectory() ? perm | mask | EXEC_MASK | 0o2000 : perm | mask);
        if (st.isDirectory()) {
            for (const e of fs.readdirSync(p)) {
                walk(path.join(p, e));
            }
        }
    };
    walk(dir);
}

/** A Secret's or ConfigMap's files as the kubelet's AtomicWriter lays them out. */
function writeProjected(dir: string, data: Readonly<Record<string, string>>, items: KeyToPath[] | undefined, defaultMode: number): void {
    const ts = `..${new Date().toISOString().replace(/[-:T]/g, "_").slice(0, 19)}.${randomBytes(4).toString("hex")}`;
    fs.mkdirSync(path.join(dir, ts), { mode: 0o755 });
    fs.chmodSync(path.join(dir, ts), 0o755);
    const files: KeyToPath[] = items ?? Object.keys(data).map((key) => ({ key, path: key }));
    const top = new Set<string>();
    for (const f of files) {
        if (!(f.key in data)) {
            throw new Error(`pod runner: key ${f.key} not found in the volume's source`);
        }
        const target = path.join(dir, ts, f.path);
        fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
        fs.writeFileSync(target, data[f.key]);
        fs.chmodSync(target, f.mode ?? defaultMode);
        top.add(f.path.split("/")[0]);
    }
    // A later write (a downward API volume after a relabel) swaps `..data` atomically, as the AtomicWriter does.
    const old = fs.existsSync(path.join(dir, "..data")) ? fs.readlinkSync(path.join(dir, "..data")) : undefined;
    fs.symlinkSync(ts, path.join(dir, "..data_tmp"));
    fs.renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
    for (const t of top) {
        if (!fs.existsSync(path.join(dir, t))) {
            fs.symlinkSync(path.join("..data", t), path.join(dir, t));
        }
    }
    if (old !== undefined) {
        fs.rmSync(path.join(dir, old), { recursive: true, force: true });
    }
}

/**
 * A map field as the kubelet writes it into a downward API file (pkg/fieldpath FormatMap): one `key="value"` line
 * per entry, sorted by key, the value quoted as Go's %q does (for the plain label values here: in double quotes).
 */
function formatMap(m: Readonly<Record<string, string>>): string {
    return Object.keys(m)
        .sort()
        .map((k) => `${k}=${JSON.stringify(m[k])}`)
        .join("\n");
}

/** Parses a Kubernetes quantity of bytes (e.g. 1Gi, 512Mi) for tmpfs' size option. */
function bytesOf(q: string): number {
    const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
    if (!m) {
        throw new Error(`pod runner: cannot read quantity ${q}`);
    }
    const unit: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
    return Math.floor(Number(m[1]) * (m[2] ? unit[m[2]] : 1));
}

/* ---------- containers ---------- */

/** containerd's default capability set (the CRI's default spec), the bounding set before drop/add. */
const DEFAULT_CAPS = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

interface Identity {
    uid: number;
    gid: number;
    groups: number[];
    noNewPrivs: boolean;
    bounding: string[];
}

export interface ExecResult {
    /** Exit status; 128 + signal number when killed by a signal (as runtimes report it). */
    readonly status: number;
    readonly stdout: string;
    readonly stderr: string;
}

function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
    if (code !== null) {
        return code;
    }
    return 128 + (os.constants.signals[signal ?? "SIGKILL"] ?? 9);
}

/** A running (or finished) container of a pod. */
export class RunningContainer {
    private output = "";
    private exited?: { status: number; at: number };
    private readonly done: Promise<number>;

    constructor(
        readonly spec: Container,
        readonly image: ImageConfig,
        private readonly process: ChildProcess,
        readonly env: Record<string, string>,
        private readonly identity: Identity,
        readonly startedAt: number,
    ) {
        process.stdout!.on("data", (d) => (this.output += d));
        process.stderr!.on("data", (d) => (this.output += d));
        this.done = new Promise((resolve) =>
            process.on("close", (code, signal) => {
                this.exited = { status: exitStatus(code, signal), at: Date.now() };
                resolve(this.exited.status);
            }),
        );
    }

    get name(): string {
        return this.spec.name;
    }

    /** Everything the container wrote to stdout and stderr (its log, as `kubectl logs` shows it). */
    logs(): string {
        return this.output;
    }

    /** The exit status once it has exited. */
    get exitStatus(): number | undefined {
        return this.exited?.status;
    }

    wait(): Promise<number> {
        return this.done;
    }

    /** Host PID of the container's PID 1 (the child of `unshare --fork`). */
    pid1(): number {
        const pid = this.process.pid!;
        for (let i = 0; i < 100; i++) {
            try {
                const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
                if (children) {
                    return Number(children.split(" ")[0]);
                }
            } catch {
                // not there yet
            }
            spawnSync("sleep", ["0.02"]);
        }
        throw new Error(`pod runner: container ${this.name} has no process`);
    }

    /**
     * Waits (up to 10 s) until PID 1 is the container's own process: before, it is still the runtime's
     * setup (mounts, pivot_root, setpriv), and an exec would enter a half-made container, e.g. see the
     * host's /etc/resolv.conf. CRI ExecSync only runs in a started container.
     */
    private async started(): Promise<number> {
        for (let i = 0; i < 500; i++) {
            const pid = this.pid1();
            let argv: string[] = [];
            try {
                argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
            } catch {
                // exited meanwhile
            }
            const setup = (argv[0] === "/bin/bash" && (argv[1] ?? "").endsWith("/setup.sh")) || argv[0] === "env" || argv[0] === "setpriv";
            if (!setup || this.exited) {
                return pid;
            }
            await new Promise((r) => setTimeout(r, 20));
        }
        throw new Error(`pod runner: container ${this.name} did not start its process in 10 s`);
    }

    /**
     * Runs a command inside the container, as CRI ExecSync does: its namespaces, root, user, groups,
     * capabilities and environment. `timeoutMs` kills it (status 137).
     */
    async exec(command: string[], timeoutMs = 60_000): Promise<ExecResult> {
        if (this.exited) {
            return { status: 126, stdout: "", stderr: `container ${this.name} is not running` };
        }
        const pid = await this.started();
        const args = [
            "--target",
            String(pid),
            "--mount",
            "--pid",
            "--uts",
            "--ipc",
            "--net",
            "--root",
            "--wd",
            "--",
            ...setprivArgs(this.identity),
            "--",
            ...command,
        ];
        return new Promise((resolve) => {
            const child = spawn("nsenter", args, { env: this.env, stdio: ["ignore", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d) => (stdout += d));
            child.stderr.on("data", (d) => (stderr += d));
            const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
            child.on("close", (code, signal) => {
                clearTimeout(timer);
                resolve({ status: exitStatus(code, signal), stdout, stderr });
            });
        });
    }

    /** Sends a signal to the container's PID 1. */
    signal(sig: NodeJS.Signals): void {
        if (!this.exited) {
            try {
                process.kill(this.pid1(), sig);
            } catch {
                // exited meanwhile
            }
        }
    }
}

function setprivArgs(id: Identity): string[] {
    const caps = id.bounding.length ? `-all,${id.bounding.map((c) => `+${c.toLowerCase()}`).join(",")}` : "-all";
    return [
        "setpriv",
        `--reuid=${id.uid}`,
        `--regid=${id.gid}`,
        id.groups.length ? `--groups=${id.groups.join(",")}` : "--clear-groups",
        `--bounding-set=${caps}`,
        "--inh-caps=-all",
        ...(id.noNewPrivs ? ["--no-new-privs"] : []),
    ];
}

/* ---------- the pod ---------- */

export interface PodOptions {
    /** The pod's name (its hostname; a StatefulSet's pod is `<name>-0`). */
    readonly name: string;
    readonly namespace: string;
    readonly spec: PodSpec;
    readonly network: PodNetwork;
    /** Secrets and ConfigMaps of the namespace, by name. */
    readonly secrets: DataByName;
    readonly configMaps: DataByName;
    /** PersistentVolumeClaim name → volume (a StatefulSet's claim is `<template>-<pod>`; the runner asks by template name). */
    readonly claims?: Readonly<Record<string, PersistentVolume>>;
    /** Services selecting this pod: their names resolve to its address from every pod started later. */
    readonly services?: readonly string[];
    /** The pod's labels (its template's), which NetworkPolicies select it by. */
    readonly labels?: Readonly<Record<string, string>>;
}

export interface StopReport {
    /** Per container: the preStop hook's status (undefined without a hook), the exit status, timings. */
    readonly containers: Record<string, { preStop?: ExecResult; exit: number; killed: boolean; stopMs: number }>;
    /** From the stop request to the last container's exit. */
    readonly totalMs: number;
}

/**
 * A path inside the container with its symlinks resolved inside the image (the host's root plus the
 * image's layer), as runc resolves mount destinations: `/var/run/postgresql` is `/run/postgresql` when
 * `/var/run` links to `/run`, never the host's own path.
 */
function resolveInImage(p: string, image: ImageConfig): string {
    const parts = p.split("/").filter(Boolean);
    let out = "";
    for (let i = 0; i < parts.length; i++) {
        const next = `${out}/${parts[i]}`;
        let target: string | undefined;
        if (image.files[next]?.symlink) {
            target = image.files[next].symlink;
        } else if (!image.files[next]) {
            try {
                if (fs.lstatSync(next).isSymbolicLink()) {
                    target = fs.readlinkSync(next);
                }
            } catch {
                // does not exist: created as a directory
            }
        }
        if (target !== undefined) {
            const rest = parts.slice(i + 1);
            const abs = target.startsWith("/") ? target : `${out}/${target}`;
            return resolveInImage(path.posix.normalize(`${abs}/${rest.join("/")}`).replace(/\/$/, ""), image);
        }
        out = next;
    }
    return out || "/";
}

/** Reads /etc/passwd and /etc/group of the host, with the image's own users in place of the host's of the same name. */
function imageAccounts(image: ImageConfig): { passwd: string; group: string } {
    const names = new Set(Object.keys(image.users));
    const uids = new Set(Object.values(image.users).map((u) => String(u.uid)));
    const gids = new Set(Object.values(image.users).map((u) => String(u.gid)));
    // The image's entries replace the host's of the same name or id.
    const keep = (file: string, ids: Set<string>, field: number) =>
        fs
            .readFileSync(file, "utf8")
            .split("\n")
            .filter((l) => l && !names.has(l.split(":")[0]) && !ids.has(l.split(":")[field]));
    const passwd = [
        ...keep("/etc/passwd", uids, 2),
        ...Object.entries(image.users).map(([n, u]) => `${n}:x:${u.uid}:${u.gid}::${u.home}:/bin/sh`),
    ];
    const group = [...keep("/etc/group", gids, 2), ...Object.entries(image.users).map(([n, u]) => `${n}:x:${u.gid}:`)];
    return { passwd: passwd.join("\n") + "\n", group: group.join("\n") + "\n" };
}

export class Pod {
    readonly containers = new Map<string, RunningContainer>();
    /** Init containers that ran, with their exit status and log. */
    readonly initResults: { name: string; status: number; logs: string }[] = [];
    private readonly dir: string;
    private readonly mounts: string[] = [];
    private readonly volumeDirs = new Map<string, string>();
    readonly netns: string;
    readonly ip: string;
    readonly startedAt = Date.now();
    private stopped = false;
    /** The pod's current labels (its template's until `relabel`). */
    private currentLabels: Record<string, string>;

    private constructor(readonly options: PodOptions) {
        if (process.getuid?.() !== 0) {
            throw new Error("pod runner: needs root (namespaces, mounts, a bridge)");
        }
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `hanzo-sql-pod-${options.name}-`));
        this.currentLabels = { ...(options.labels ?? {}) };
        const ports = [...(options.spec.initContainers ?? []), ...options.spec.containers].flatMap((c) => c.ports ?? []);
        const attached = options.network.attach({ namespace: options.namespace, labels: options.labels ?? {}, ports });
        this.netns = attached.netns;
        this.ip = attached.ip;
        for (const s of options.services ?? []) {
            options.network.addService(s, options.namespace, this.ip);
        }
        // Not Ready until its readiness probes pass (waitReady, checkReady).
        if (options.spec.containers.some((c) => c.readinessProbe !== undefined)) {
            options.network.setReady(this.netns, false);
        }
    }

    /**
     * Runs every container's readiness probe once, as the kubelet's next period would, and sets the pod's Ready
     * condition (which Services resolved by selector follow) from the result.
     */
    async checkReady(): Promise<{ ready: boolean; detail: string }> {
        const results = await Promise.all([...this.containers.keys()].map((c) => this.probe(c, "readinessProbe")));
        const ready = results.every((r) => r.ok);
        this.options.network.setReady(this.netns, ready);
        return { ready, detail: results.map((r) => r.detail).join("; ") };
    }

    get name(): string {
        return this.options.name;
    }

    get labels(): Readonly<Record<string, string>> {
        return { ...this.currentLabels };
    }

    /**
     * `kubectl label pod --overwrite`: the pod's labels become `labels`; the NetworkPolicies and the Services that
     * select by them see the change, and the kubelet rewrites the downward API files that project them.
     */
    relabel(labels: Readonly<Record<string, string>>): void {
        this.currentLabels = { ...labels };
        this.options.network.relabel(this.netns, this.currentLabels);
        this.writeDownwardApi();
    }

    /** The downward API volumes' fields, from the pod's current metadata. */
    private downwardApiData(fieldPath: string): string {
        const fields: Record<string, string> = {
            "metadata.name": this.name,
            "metadata.namespace": this.options.namespace,
            "metadata.labels": formatMap(this.currentLabels),
        };
        if (!(fieldPath in fields)) {
            throw new Error(`pod runner: downward API field ${fieldPath} is not supported`);
        }
        return fields[fieldPath];
    }

    /**
     * The kubelet's update of a mounted Secret once the Secret changed (its sync loop; the delay, about a minute
     * with the defaults, is not reproduced): every volume of `secretName` rewritten as the AtomicWriter does (a
     * new `..data`), the containers left running.
     */
    updateSecret(secretName: string, data: Readonly<Record<string, string>>): void {
        for (const v of this.options.spec.volumes ?? []) {
            const dir = this.volumeDirs.get(v.name);
            if (v.secret?.secretName !== secretName || dir === undefined) {
                continue;
            }
            writeProjected(dir, data, v.secret.items, v.secret.defaultMode ?? 0o644);
            setVolumeOwnership(dir, this.options.spec.securityContext?.fsGroup, true, false);
        }
    }

    private writeDownwardApi(): void {
        for (const v of this.options.spec.volumes ?? []) {
            const dir = this.volumeDirs.get(v.name);
            if (!v.downwardAPI || dir === undefined) {
                continue;
            }
            const data = Object.fromEntries(v.downwardAPI.items.map((i) => [i.path, this.downwardApiData(i.fieldRef.fieldPath)]));
            const items = v.downwardAPI.items.map((i) => ({
                key: i.path,
                path: i.path,
                ...(i.mode !== undefined ? { mode: i.mode } : {}),
            }));
            writeProjected(dir, data, items, v.downwardAPI.defaultMode ?? 0o644);
            setVolumeOwnership(dir, this.options.spec.securityContext?.fsGroup, true, false);
        }
    }

    /**
     * Prepares the volumes, runs the init containers to completion (throws with the failing one's log),
     * then starts every container. Does not wait for readiness (see `waitReady`).
     */
    static async start(options: PodOptions): Promise<Pod> {
        const pod = new Pod(options);
        try {
            pod.prepareVolumes();
            for (const c of options.spec.initContainers ?? []) {
                const rc = pod.startContainer(c);
                const status = await rc.wait();
                pod.initResults.push({ name: c.name, status, logs: rc.logs() });
                if (status !== 0) {
                    const err = new Error(`init container ${c.name} exited ${status}:\n${rc.logs()}`);
                    (err as Error & { pod?: Pod }).pod = pod;
                    throw err;
                }
            }
            for (const c of options.spec.containers) {
                pod.containers.set(c.name, pod.startContainer(c));
            }
        } catch (e) {
            await pod.stop().catch(() => undefined);
            throw e;
        }
        return pod;
    }

    container(name: string): RunningContainer {
        const c = this.containers.get(name);
        if (!c) {
            throw new Error(`pod ${this.name} has no container ${name}`);
        }
        return c;
    }

    private prepareVolumes(): void {
        const { spec } = this.options;
        const sc = spec.securityContext ?? {};
        const onRootMismatch = sc.fsGroupChangePolicy === "OnRootMismatch";
        fs.mkdirSync(path.join(this.dir, "volumes"));
        for (const v of spec.volumes ?? []) {
            const dir = path.join(this.dir, "volumes", v.name);
            fs.mkdirSync(dir, { mode: 0o777 });
            fs.chmodSync(dir, 0o777);
            if (v.secret || v.configMap) {
                // Secret and ConfigMap volumes are memory-backed emptyDirs the AtomicWriter fills.
                execFileSync("mount", ["-t", "tmpfs", "-o", "mode=0777", "tmpfs", dir]);
                this.mounts.push(dir);
                const source = v.secret
                    ? { data: this.options.secrets.get(v.secret.secretName), what: `Secret ${v.secret.secretName}`, src: v.secret }
                    : { data: this.options.configMaps.get(v.configMap!.name), what: `ConfigMap ${v.configMap!.name}`, src: v.configMap! };
                if (!source.data) {
                    if (source.src.optional) {
                        continue;
                    }
                    throw new Error(
                        `pod runner: volume ${v.name}: ${source.what} not found (the kubelet would leave the pod ContainerCreating)`,
                    );
                }
                writeProjected(dir, source.data, source.src.items, source.src.defaultMode ?? 0o644);
                setVolumeOwnership(dir, sc.fsGroup, true, false);
            } else if (v.downwardAPI) {
                // Memory-backed, written by the AtomicWriter like a Secret's (writeDownwardApi, below).
                execFileSync("mount", ["-t", "tmpfs", "-o", "mode=0777", "tmpfs", dir]);
                this.mounts.push(dir);
            } else if (v.emptyDir) {
                if (v.emptyDir.medium === "Memory") {
                    const size = v.emptyDir.sizeLimit ? `,size=${bytesOf(v.emptyDir.sizeLimit)}` : "";
                    execFileSync("mount", ["-t", "tmpfs", "-o", `mode=0777${size}`, "tmpfs", dir]);
                    this.mounts.push(dir);
                }
                setVolumeOwnership(dir, sc.fsGroup, false, false);
            } else if (v.persistentVolumeClaim) {
                const claim = v.persistentVolumeClaim.claimName;
                const pv = this.options.claims?.[claim];
                if (!pv) {
                    throw new Error(`pod runner: volume ${v.name}: no PersistentVolume given for claim ${claim}`);
                }
                execFileSync("mount", ["-o", "loop", pv.image, dir]);
                this.mounts.push(dir);
                setVolumeOwnership(dir, sc.fsGroup, false, onRootMismatch);
            } else {
                throw new Error(
                    `pod runner: volume ${v.name}: unsupported volume type ${Object.keys(v)
                        .filter((k) => k !== "name")
                        .join(",")}`,
                );
            }
            this.volumeDirs.set(v.name, dir);
        }
        // A StatefulSet's volumeClaimTemplates become volumes of the pod named after the template.
        for (const [claim, pv] of Object.entries(this.options.claims ?? {})) {
            if (this.volumeDirs.has(claim) || (spec.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === claim)) {
                continue;
            }
            const dir = path.join(this.dir, "volumes", claim);
            fs.mkdirSync(dir);
            execFileSync("mount", ["-o", "loop", pv.image, dir]);
            this.mounts.push(dir);
            setVolumeOwnership(dir, sc.fsGroup, false, onRootMismatch);
            this.volumeDirs.set(claim, dir);
        }
        this.writeDownwardApi();
        const etc = path.join(this.dir, "etc");
        fs.mkdirSync(etc);
        fs.writeFileSync(path.join(etc, "hostname"), `${this.hostname}\n`);
        fs.writeFileSync(path.join(etc, "resolv.conf"), this.options.network.resolvConf(this.options.namespace));
    }

    get hostname(): string {
        return this.options.spec.hostname ?? this.options.name;
    }

    /** Resolves an env list the way the kubelet does (later entries may use `$(EARLIER)`). */
    private resolveEnv(c: Container, image: ImageConfig): Record<string, string> {
        const env: Record<string, string> = { ...image.env, HOSTNAME: this.hostname };
        const lookup = (map: DataByName, name: string, key: string, optional: boolean | undefined, what: string): string | undefined => {
            const data = map.get(name);
            if (!data || !(key in data)) {
                if (optional) {
                    return undefined;
                }
                throw new Error(`pod runner: container ${c.name}: ${what} ${name} has no key ${key} (CreateContainerConfigError)`);
            }
            return data[key];
        };
        for (const from of c.envFrom ?? []) {
            const data = from.secretRef
                ? this.options.secrets.get(from.secretRef.name)
                : this.options.configMaps.get(from.configMapRef!.name);
            for (const [k, v] of Object.entries(data ?? {})) {
                env[(from.prefix ?? "") + k] = v;
            }
        }
        for (const e of c.env ?? []) {
            let value: string | undefined;
            if (e.valueFrom?.secretKeyRef) {
                const r = e.valueFrom.secretKeyRef;
                value = lookup(this.options.secrets, r.name, r.key, r.optional, "Secret");
            } else if (e.valueFrom?.configMapKeyRef) {
                const r = e.valueFrom.configMapKeyRef;
                value = lookup(this.options.configMaps, r.name, r.key, r.optional, "ConfigMap");
            } else if (e.valueFrom?.fieldRef) {
                const f = e.valueFrom.fieldRef.fieldPath;
                const fields: Record<string, string> = {
                    "metadata.name": this.name,
                    "metadata.namespace": this.options.namespace,
                    "status.podIP": this.ip,
                    "spec.nodeName": os.hostname(),
                };
                if (!(f in fields)) {
                    throw new Error(`pod runner: container ${c.name}: fieldRef ${f} is not supported`);
                }
                value = fields[f];
            } else {
                value = (e.value ?? "").replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) =>
                    m === "$$" ? "$" : v in env ? env[v] : m,
                );
            }
            if (value !== undefined) {
                env[e.name] = value;
            }
        }
        return env;
    }

    private identity(c: Container, image: ImageConfig): Identity {
        const psc = this.options.spec.securityContext ?? {};
        const csc = c.securityContext ?? {};
        const declaredUid = csc.runAsUser ?? psc.runAsUser;
        const uid = declaredUid ?? image.user.uid;
        // Without runAsGroup the runtime takes the uid's group from the image's /etc/passwd, else 0.
        const imageGid = declaredUid === undefined ? image.user.gid : (Object.values(image.users).find((u) => u.uid === uid)?.gid ?? 0);
        const gid = csc.runAsGroup ?? psc.runAsGroup ?? imageGid;
        if ((csc.runAsNonRoot ?? psc.runAsNonRoot) && uid === 0) {
            throw new Error(`pod runner: container ${c.name}: runAsNonRoot and the image runs as root (CreateContainerConfigError)`);
        }
        const groups = new Set<number>();
        if (psc.fsGroup !== undefined) {
            groups.add(psc.fsGroup);
        }
        for (const g of psc.supplementalGroups ?? []) {
            groups.add(g);
        }
        // The image's /etc/group memberships of the user (supplementalGroupsPolicy Merge, the default).
        const user = Object.entries(image.users).find(([, u]) => u.uid === uid);
        if (user) {
            groups.add(user[1].gid);
        }
        groups.add(gid);
        const drop = new Set((csc.capabilities?.drop ?? []).map((x) => x.toUpperCase()));
        const add = (csc.capabilities?.add ?? []).map((x) => x.toUpperCase());
        const bounding = drop.has("ALL") ? add : [...DEFAULT_CAPS.filter((x) => !drop.has(x)), ...add];
        return { uid, gid, groups: [...groups].sort((a, b) => a - b), noNewPrivs: csc.allowPrivilegeEscalation === false, bounding };
    }

    private startContainer(c: Container): RunningContainer {
        const image = imageConfig(c.image);
        const env = this.resolveEnv(c, image);
        const id = this.identity(c, image);
        const argv = c.command ? [...c.command, ...(c.args ?? [])] : [...image.entrypoint, ...(c.args ?? image.cmd)];
        const expand = (s: string) =>
            s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) => (m === "$$" ? "$" : v in env ? env[v] : m));
        const command = argv.map(expand);
        if (command.length === 0) {
            throw new Error(`pod runner: container ${c.name}: no command (the image has no entrypoint)`);
        }
        // A restarted container gets a new state directory, as a new runc container would.
        let state = path.join(this.dir, "containers", c.name);
        for (let n = 1; fs.existsSync(state); n++) {
            state = path.join(this.dir, "containers", `${c.name}-${n}`);
        }
        fs.mkdirSync(path.join(state, "layer"), { recursive: true });
        fs.mkdirSync(path.join(state, "rootfs"));
        fs.mkdirSync(path.join(state, "image"));
        // The image's own layer: its files and accounts.
        const accounts = imageAccounts(image);
        fs.mkdirSync(path.join(state, "image", "etc"));
        fs.writeFileSync(path.join(state, "image", "etc", "passwd"), accounts.passwd);
        fs.writeFileSync(path.join(state, "image", "etc", "group"), accounts.group);
        for (const [p, f] of Object.entries(image.files)) {
            const target = path.join(state, "image", p);
            fs.mkdirSync(path.dirname(target), { recursive: true });
            if (f.symlink) {
                fs.symlinkSync(f.symlink, target);
            } else if (f.content !== undefined) {
                fs.writeFileSync(target, f.content, { mode: f.mode });
            } else {
                fs.mkdirSync(target, { recursive: true, mode: f.mode });
            }
        }
        fs.writeFileSync(path.join(state, "hosts"), this.options.network.hostsFile(this.hostname, this.ip));

        const R = path.join(state, "rootfs");
        const lines = [
            "set -euo pipefail",
            "mount --make-rprivate /",
            `mount -t tmpfs -o mode=0755 tmpfs ${q(path.join(state, "layer"))}`,
            `mkdir ${q(path.join(state, "layer", "upper"))} ${q(path.join(state, "layer", "work"))}`,
            `mount -t overlay overlay -o ${q(`lowerdir=/,upperdir=${state}/layer/upper,workdir=${state}/layer/work`)} ${q(R)}`,
            // /var/run is a symlink to /run on the host; the image's own layer and the runtime's mounts follow.
            `cp -a ${q(path.join(state, "image"))}/. ${q(R)}/`,
            `mount -t proc -o nosuid,nodev,noexec proc ${q(R + "/proc")}`,
            `mount -t sysfs -o ro,nosuid,nodev,noexec sysfs ${q(R + "/sys")}`,
            `mount -t tmpfs -o nosuid,mode=0755,size=65536k tmpfs ${q(R + "/dev")}`,
            `for d in null zero full random urandom tty; do touch ${q(R)}/dev/$d; mount --bind /dev/$d ${q(R)}/dev/$d; done`,
            `mkdir ${q(R + "/dev/shm")} ${q(R + "/dev/pts")} ${q(R + "/dev/mqueue")}`,
            // The runtime's default /dev/shm is 64MB (STANDARD defect 6).
            `mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=65536k shm ${q(R + "/dev/shm")}`,
            `ln -s /proc/self/fd ${q(R + "/dev/fd")}; ln -s /proc/self/fd/0 ${q(R + "/dev/stdin")}; ln -s /proc/self/fd/1 ${q(R + "/dev/stdout")}; ln -s /proc/self/fd/2 ${q(R + "/dev/stderr")}`,
        ];
        const etc = path.join(this.dir, "etc");
        for (const [file, src] of [
            ["/etc/hosts", path.join(state, "hosts")],
            ["/etc/hostname", path.join(etc, "hostname")],
            ["/etc/resolv.conf", path.join(etc, "resolv.conf")],
        ]) {
            lines.push(`mount --bind ${q(src)} ${q(R + resolveInImage(file, image))}`);
        }
        const mounts = [...(c.volumeMounts ?? [])].sort((a, b) => a.mountPath.split("/").length - b.mountPath.split("/").length);
        for (const m of mounts) {
            const volumeDir = this.volumeDirs.get(m.name);
            if (!volumeDir) {
                throw new Error(`pod runner: container ${c.name}: volumeMount ${m.name} names no volume of the pod`);
            }
            const src = m.subPath ? path.join(volumeDir, m.subPath) : volumeDir;
            const dest = R + resolveInImage(m.mountPath, image);
            const isFile = m.subPath !== undefined && fs.statSync(src).isFile();
            lines.push(isFile ? `mkdir -p ${q(path.dirname(dest))}; [ -e ${q(dest)} ] || touch ${q(dest)}` : `mkdir -p ${q(dest)}`);
            lines.push(`mount --bind ${q(src)} ${q(dest)}`);
            if (m.readOnly) {
                lines.push(`mount -o remount,bind,ro ${q(dest)}`);
            }
        }
        if (c.securityContext?.readOnlyRootFilesystem) {
            lines.push(`mount -o remount,bind,ro ${q(R)}`);
        }
        lines.push(
            `hostname ${q(this.hostname)}`,
            `cd ${q(R)}`,
            "pivot_root . .",
            "umount -l .",
            `cd ${q(c.workingDir ?? image.workingDir)}`,
            `exec env -u SHLVL -u PWD -u OLDPWD -u _ ${setprivArgs(id).map(q).join(" ")} -- ${command.map(q).join(" ")}`,
        );
        fs.writeFileSync(path.join(state, "setup.sh"), lines.join("\n") + "\n");
        const child = spawn(
            "nsenter",
            [
                `--net=/run/netns/${this.netns}`,
                "--",
                "unshare",
                "--mount",
                "--pid",
                "--uts",
                "--ipc",
                "--fork",
                "--kill-child",
                "--",
                "/bin/bash",
                path.join(state, "setup.sh"),
            ],
            {
                env,
                stdio: ["ignore", "pipe", "pipe"],
            },
        );
        return new RunningContainer(c, image, child, env, id, Date.now());
    }

    /** Named or numbered port of a container. */
    private port(c: Container, port: number | string): number {
        if (typeof port === "number") {
            return port;
        }
        const p = (c.ports ?? []).find((x) => x.name === port);
        if (!p) {
            throw new Error(`pod runner: container ${c.name} has no port named ${port}`);
        }
        return p.containerPort;
    }

    /** Runs one probe once, as the kubelet does; true when it succeeds. */
    async probe(
        containerName: string,
        kind: "startupProbe" | "readinessProbe" | "livenessProbe",
    ): Promise<{ ok: boolean; detail: string }> {
        const rc = this.container(containerName);
        const p = rc.spec[kind];
        if (!p) {
            return { ok: true, detail: "no probe" };
        }
        const timeoutMs = (p.timeoutSeconds ?? 1) * 1000;
        if (p.exec) {
            const r = await rc.exec(p.exec.command, timeoutMs);
            return { ok: r.status === 0, detail: `exit ${r.status}: ${(r.stdout + r.stderr).trim()}` };
        }
        if (p.tcpSocket) {
            const port = this.port(rc.spec, p.tcpSocket.port);
            return new Promise((resolve) => {
                const s = net.connect({ host: this.ip, port });
                const t = setTimeout(() => (s.destroy(), resolve({ ok: false, detail: "timeout" })), timeoutMs);
                s.on("connect", () => (clearTimeout(t), s.destroy(), resolve({ ok: true, detail: `connected to ${this.ip}:${port}` })));
                s.on("error", (e) => (clearTimeout(t), resolve({ ok: false, detail: e.message })));
            });
        }
        if (p.httpGet) {
            const port = this.port(rc.spec, p.httpGet.port);
            return new Promise((resolve) => {
                const req = http.get({ host: this.ip, port, path: p.httpGet!.path ?? "/", timeout: timeoutMs }, (res) => {
                    res.resume();
                    const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400;
                    resolve({ ok, detail: `HTTP ${res.statusCode}` });
                });
                req.on("timeout", () => (req.destroy(), resolve({ ok: false, detail: "timeout" })));
                req.on("error", (e) => resolve({ ok: false, detail: e.message }));
            });
        }
        throw new Error(`pod runner: ${kind} of ${containerName} has no handler`);
    }

    /**
     * Waits until every container is Ready: its startup probe passed (within failureThreshold attempts,
     * else the kubelet would restart it: this throws), then its readiness probe passed. Returns the time
     * from the pod's start to Ready in milliseconds.
     */
    async waitReady(timeoutMs = 120_000, pollMs = 250): Promise<number> {
        const deadline = Date.now() + timeoutMs;
        for (const rc of this.containers.values()) {
            for (const kind of ["startupProbe", "readinessProbe"] as const) {
                const p = rc.spec[kind];
                let failures = 0;
                let last = "";
                for (;;) {
                    if (rc.exitStatus !== undefined) {
                        throw new Error(`container ${rc.name} exited ${rc.exitStatus} before it was ready:\n${rc.logs()}`);
                    }
                    const r = await this.probe(rc.name, kind);
                    if (r.ok) {
                        break;
                    }
                    last = r.detail;
                    failures++;
                    // Scaled to the runner's faster polling: failureThreshold × periodSeconds of wall time.
                    const budgetMs = p ? (p.failureThreshold ?? 3) * (p.periodSeconds ?? 10) * 1000 : Infinity;
                    if (kind === "startupProbe" && failures * pollMs > budgetMs) {
                        throw new Error(
                            `container ${rc.name}: startup probe failed for ${budgetMs} ms (the kubelet would restart it): ${last}`,
                        );
                    }
                    if (Date.now() > deadline) {
                        throw new Error(`container ${rc.name}: ${kind} still failing after ${timeoutMs} ms: ${last}\n${rc.logs()}`);
                    }
                    await new Promise((r2) => setTimeout(r2, pollMs));
                }
            }
        }
        this.options.network.setReady(this.netns, true);
        return Date.now() - this.startedAt;
    }

    /**
     * Restarts a container that has exited, as the kubelet does under restartPolicy Always: the same spec,
     * a new process in new namespaces, the pod's volumes and network kept. Returns the new container.
     */
    async restartContainer(name: string): Promise<RunningContainer> {
        const old = this.container(name);
        await old.wait();
        const rc = this.startContainer(old.spec);
        this.containers.set(name, rc);
        return rc;
    }

    /** Waits for every container to exit (a Job's pod); returns their exit statuses. */
    async waitCompleted(timeoutMs = 300_000): Promise<Record<string, number>> {
        const timer = new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error(`pod ${this.name} did not complete in ${timeoutMs} ms`)), timeoutMs).unref(),
        );
        const out: Record<string, number> = {};
        for (const rc of this.containers.values()) {
            out[rc.name] = await Promise.race([rc.wait(), timer]);
        }
        return out;
    }

    /**
     * Stops the pod as the kubelet does on deletion: for every container at once, its preStop hook (inside
     * the container, bounded by the grace period), then the image's STOPSIGNAL to PID 1, then SIGKILL when
     * the grace period (terminationGracePeriodSeconds, default 30) runs out. Then tears the pod down.
     */
    async stop(gracePeriodSeconds = this.options.spec.terminationGracePeriodSeconds ?? 30): Promise<StopReport> {
        const t0 = Date.now();
        const report: StopReport["containers"] = {};
        if (!this.stopped) {
            this.stopped = true;
            const deadline = t0 + gracePeriodSeconds * 1000;
            await Promise.allSettled(
                [...this.containers.values()].map(async (rc) => {
                    const start = Date.now();
                    let preStop: ExecResult | undefined;
                    const hook = rc.spec.lifecycle?.preStop?.exec?.command;
                    if (hook && rc.exitStatus === undefined) {
                        preStop = await rc.exec(hook, Math.max(1, deadline - Date.now()));
                    }
                    rc.signal(rc.image.stopSignal);
                    let killed = false;
                    const remaining = Math.max(0, deadline - Date.now());
                    const timer = setTimeout(() => {
                        killed = true;
                        rc.signal("SIGKILL");
                    }, remaining);
                    const exit = await rc.wait();
                    clearTimeout(timer);
                    report[rc.name] = { preStop, exit, killed, stopMs: Date.now() - start };
                }),
            );
        }
        this.teardown();
        return { containers: report, totalMs: Date.now() - t0 };
    }

    /** Unmounts the pod's volumes, removes its network namespace and files. */
    private teardown(): void {
        for (const rc of this.containers.values()) {
            rc.signal("SIGKILL");
        }
        for (const m of this.mounts.splice(0).reverse()) {
            spawnSync("umount", ["-l", m]);
        }
        try {
            this.options.network.detach(this.netns);
        } catch {
            // already gone
        }
        fs.rmSync(this.dir, { recursive: true, force: true });
    }

    /** The files of a volume as the containers see them (for assertions on ownership and modes). */
    volumePath(name: string): string {
        const d = this.volumeDirs.get(name);
        if (!d) {
            throw new Error(`pod ${this.name} has no volume ${name}`);
        }
        return d;
    }
}

export { PodNetwork };
