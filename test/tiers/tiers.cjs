// The test tiers (issue 20). `npm test` (.mocharc.json) runs every test file; each tier runs a part, so a change to
// a renderer is checked in seconds without servers or pods. Every test file is in exactly one tier
// (test/house/tiers.test.ts checks it). Tiers go by folder, so a test added to a folder joins its tier.
//   unit      no root, no servers, no pods, no child processes: renderers, builders, the schema, the program
//             under the mock runtime, the house's own rules
//   policies  the pack through its real analyzer (a child process over gRPC, npm pack)
//   cli       the CLIs as users run them (child processes)
//   db        real PostgreSQL, PgBouncer, S3 (s3rver), promtool, the exporter, the clients' drivers
//   pods      the pod runner: Linux namespaces, as root
const TIERS = {
    unit: {
        spec: [
            "build/test/render/**/*.test.js",
            "build/test/stacks/**/*.test.js",
            "build/test/house/**/*.test.js",
            "build/test/program/**/*.test.js",
            "build/test/standard/once.test.js",
            "build/test/docs/**/*.test.js",
        ],
    },
    // standard/replication.test.js runs the pack through the real analyzer.
    policies: { spec: ["build/test/policies/**/*.test.js", "build/test/standard/replication.test.js"] },
    cli: { spec: ["build/test/cli/**/*.test.js"], ignore: ["build/test/cli/netpol.test.js"] },
    db: {
        spec: [
            "build/test/db/**/*.test.js",
            "build/test/clients/**/*.test.js",
            "build/test/monitoring/**/*.test.js",
            "build/test/standard/agreement.test.js",
        ],
    },
    pods: { spec: ["build/test/pods/**/*.test.js", "build/test/cli/netpol.test.js"] },
};

/** The mocha configuration of a tier: the repository's (.mocharc.json: reporter, timeouts) with the tier's files. */
function tier(name) {
    return { ...require("../../.mocharc.json"), ...TIERS[name] };
}

module.exports = { TIERS, tier };
