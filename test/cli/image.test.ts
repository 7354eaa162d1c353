import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { PROJECT_DIR } from "../../cli/plan/stackFile";
import { HANZO_SQL_IMAGE } from "../../render/pitr";

const CONTAINERFILE = path.join(PROJECT_DIR, "image", "Containerfile");
const WORKFLOW = path.join(PROJECT_DIR, ".github", "workflows", "image.yml");
const VALIDATOR = path.join(PROJECT_DIR, "node_modules", "@action-validator", "cli", "cli.mjs");

/** The Containerfile's RUN instructions, continuation lines joined. */
function runLines(text: string): string[] {
    return text
        .replace(/\\\n/g, " ")
        .split("\n")
        .filter((l) => /^RUN /.test(l))
        .map((l) => l.slice(4));
}

describe("image/Containerfile and .github/workflows/image.yml (HIP-29's image)", () => {
    const containerfile = fs.readFileSync(CONTAINERFILE, "utf8");
    const workflow = yaml.load(fs.readFileSync(WORKFLOW, "utf8")) as any;

    it("builds on the official postgres:16 bookworm image and installs pgbackrest and pgvector through apt only", () => {
        assert.deepStrictEqual(
            containerfile.split("\n").filter((l) => /^(FROM|ARG) /.test(l)),
            ["ARG POSTGRES_TAG=16-bookworm", "FROM docker.io/library/postgres:${POSTGRES_TAG}"],
        );
        const [run] = runLines(containerfile);
        const install = /apt-get install -y --no-install-recommends ([^;]+);/.exec(run);
        assert.ok(install, run);
        assert.deepStrictEqual(install[1].trim().split(/\s+/), ["pgbackrest", '"postgresql-${PG_MAJOR}-pgvector"']);
        assert.ok(!/curl|wget|ADD http/.test(containerfile), "nothing downloaded outside apt");
    });

    it("installs steps that resolve on bookworm here: pgbackrest resolves and runs; pgvector is PGDG's (not in Debian's bookworm)", () => {
        // apt-get -s: the resolution apt would do in the build, without installing.
        const sim = spawnSync("apt-get", ["-s", "install", "--no-install-recommends", "pgbackrest"], { encoding: "utf8" });
        assert.strictEqual(sim.status, 0, sim.stderr);
        const version = spawnSync("pgbackrest", ["version"], { encoding: "utf8" });
        assert.strictEqual(version.status, 0);
        assert.match(version.stdout, /^pgBackRest 2\.\d+/);
        // The base image carries PGDG's apt source, where postgresql-16-pgvector lives; this machine's
        // Debian mirror does not have it (that half of the step is checked only by the workflow's build).
        const pgvector = spawnSync("apt-cache", ["policy", "postgresql-15-pgvector", "postgresql-16-pgvector"], { encoding: "utf8" });
        assert.strictEqual(pgvector.stdout.trim(), "");
    });

    it("is a valid workflow that builds amd64 and arm64, publishes the tag the program pins, and prints the digest", () => {
        const ok = spawnSync(process.execPath, [VALIDATOR, WORKFLOW], { encoding: "utf8" });
        assert.strictEqual(ok.status, 0, ok.stdout + ok.stderr);
        const steps = workflow.jobs.build.steps;
        const build = steps.find((s: any) => String(s.uses).startsWith("docker/build-push-action@"));
        assert.deepStrictEqual(
            [build.with.file, build.with.platforms, build.with.push],
            ["image/Containerfile", "linux/amd64,linux/arm64", true],
        );
        assert.deepStrictEqual(build.with.tags.trim().split("\n")[0], HANZO_SQL_IMAGE);
        assert.ok(
            steps.some((s: any) => /steps\.build\.outputs\.digest/.test(s.run ?? "")),
            "prints the digest",
        );
        assert.deepStrictEqual(workflow.permissions, { contents: "read", packages: "write" });
    });
});
