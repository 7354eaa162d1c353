/**
 * Every external command the tests, the harness, the benchmarks and the CLI run, and where a fresh machine
 * gets it: the Debian package `scripts/install-test-deps.sh` installs, or one every Debian system has
 * (Essential, or Priority required: debootstrap installs those). test/cli/installDeps.test.ts finds the commands
 * in the sources, checks each is here, that the package here is the one `dpkg -S` names for it on this
 * machine, and that the install script installs it (unless every Debian system has it).
 */
export const COMMAND_PACKAGES: Readonly<Record<string, string>> = {
    // PostgreSQL 15 (stands in for 16): the server, its tools, and the client.
    postgres: "postgresql-15",
    initdb: "postgresql-15",
    pg_ctl: "postgresql-15",
    pg_isready: "postgresql-client-15",
    psql: "postgresql-client-15",
    pg_dump: "postgresql-client-15",
    pg_restore: "postgresql-client-15",
    pgbench: "postgresql-15",
    pg_basebackup: "postgresql-client-15",
    pg_receivewal: "postgresql-client-15",
    pg_controldata: "postgresql-15",
    pg_rewind: "postgresql-15",
    // Continuous archiving (test/db/pitr.test.ts): the engine, and the S3 API's TLS certificate.
    pgbackrest: "pgbackrest",
    openssl: "openssl",
    // The stand-ins for the images' other binaries.
    aws: "awscli",
    promtool: "prometheus",
    prometheus: "prometheus",
    "prometheus-postgres-exporter": "prometheus-postgres-exporter",
    // Built from Debian's newer source package beside Debian's own (same command name, checked on /usr/sbin).
    pgbouncer: "pgbouncer",
    go: "golang-go",
    shellcheck: "shellcheck",
    // The pod runner: namespaces, network, volumes.
    ip: "iproute2",
    nsenter: "util-linux",
    runuser: "util-linux",
    setpriv: "util-linux",
    unshare: "util-linux",
    mount: "mount",
    umount: "mount",
    "mkfs.ext4": "e2fsprogs",
    "iptables-restore": "iptables",
    "ip6tables-restore": "iptables",
    getent: "libc-bin",
    // Shells and core utilities (Essential or required on every Debian system).
    bash: "bash",
    sh: "dash",
    awk: "mawk",
    sed: "sed",
    grep: "grep",
    find: "findutils",
    tar: "tar",
    cat: "coreutils",
    sort: "coreutils",
    chmod: "coreutils",
    chown: "coreutils",
    cp: "coreutils",
    date: "coreutils",
    df: "coreutils",
    dirname: "coreutils",
    basename: "coreutils",
    env: "coreutils",
    id: "coreutils",
    mkdir: "coreutils",
    mktemp: "coreutils",
    mv: "coreutils",
    nproc: "coreutils",
    od: "coreutils",
    rm: "coreutils",
    sha256sum: "coreutils",
    sleep: "coreutils",
    stat: "coreutils",
    timeout: "coreutils",
    tr: "coreutils",
    truncate: "coreutils",
    wc: "coreutils",
    cut: "coreutils",
    head: "coreutils",
    touch: "coreutils",
    ls: "coreutils",
    tail: "coreutils",
    rmdir: "coreutils",
    seq: "coreutils",
    // The install script's own tools (it installs the build tools it needs itself).
    "apt-get": "apt",
    "apt-cache": "apt",
    make: "make",
    // This check itself.
    dpkg: "dpkg",
    "dpkg-query": "dpkg",
};

/** Commands run as an argument of another command (nsenter, ip netns exec), and the file that runs them so. */
export const WRAPPED: Readonly<Record<string, string>> = {
    setpriv: "test/harness/pod/runner.ts",
    unshare: "test/harness/pod/runner.ts",
    "iptables-restore": "test/harness/pod/network.ts",
    "ip6tables-restore": "test/harness/pod/network.ts",
};

/** Words at a command position of shell text that name no command run there (the check's false positives). */
export const NOT_COMMANDS: Readonly<Record<string, string>> = {
    split: "awk's split() in install-test-deps.sh",
    init: "render/adminPassword.ts: the words `(init container)` of a message",
};

/** Commands of the machine that runs CI before any install step: the runtime and the clone. */
export const PREREQUISITES: Readonly<Record<string, string>> = {
    node: "Node.js >= 20 (package.json engines), which runs npm and every test",
    npm: "comes with Node.js",
    git: "CI clones the repository with it",
};

/**
 * First arguments of spawn/execFile calls that are not a literal command, and the commands they run.
 * A new call whose first argument is neither a literal nor listed here fails the check.
 */
export const SPAWN_EXPRESSIONS: Readonly<Record<string, readonly string[]>> = {
    "process.execPath": ["node"],
    EXPORTER: ["prometheus-postgres-exporter"],
    PROMTOOL: ["promtool"],
    PGBOUNCER_BIN: ["pgbouncer"],
    PROMETHEUS: ["prometheus"],
    "opts.kubectl[0]": [], // cli/forward.ts: the user's kubectl; its test runs a stand-in with node
    kubectlBinary: [], // cli/failover.ts: the user's kubectl (KUBECTL); its tests interpret the argv in process
    "goClient()": [], // a Go program the tests build with `go`
    "path.join(PROJECT_DIR": [], // a script of this repository, run with its shebang
    file: ["postgres", "initdb", "pg_ctl", "psql"], // test/harness/pg/server.ts: PostgreSQL's binaries by path
    "...postgresCommand(cmd": ["postgres", "initdb", "pg_ctl", "pg_isready", "psql", "runuser"],
    "`${PG_BIN}/${command[0]}`": ["pg_dump", "pg_restore", "psql"], // test/db/lifecycle.test.ts
    "argv[0]": ["psql", "pg_ctl", "runuser"], // test/harness/local/standbys.ts execOnServer: failover's psql, its clean stop
};
