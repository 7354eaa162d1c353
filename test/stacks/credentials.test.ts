import * as assert from "assert";
import { VALID, load, on, problems, withServices } from "../support/config";

describe("credential settings of a stack", () => {
    it("takes a service's passwordVersion (1 by default) and rejects anything but a positive whole number", () => {
        assert.deepStrictEqual(
            load(withServices("iam", { name: "cloud", passwordVersion: 3 })).services.map((s) => s.passwordVersion),
            [1, 3],
        );
        for (const bad of [0, -1, 1.5, "2", true]) {
            assert.deepStrictEqual(problems(withServices({ name: "iam", passwordVersion: bad })), [
                `hanzo-sql:services[0].passwordVersion = ${JSON.stringify(bad)}: must be a positive whole number; raise it by one to rotate the service's password`,
            ]);
        }
    });

    it("rejects an adminPassword set without --secret, naming the key and never the value", () => {
        const lines = problems({ ...VALID, adminPassword: "plain-text-password-123" });
        assert.deepStrictEqual(lines, [
            'hanzo-sql:adminPassword = "[redacted]": is stored in plain text; set it with pulumi config set --secret adminPassword',
        ]);
    });

    it("reports a misspelt key by name only: a secret's as [secret], a plain one's value not shown (it may be a misplaced password)", () => {
        const lines = problems(
            { ...VALID, adminPasswrd: "correct-horse-battery-staple", namespce: "hanzo", adminPasword: "tr0ub4dor&3-plain" },
            { secret: ["hanzo-sql:adminPasswrd"] },
        );
        assert.deepStrictEqual(
            lines.map((l) => l.slice(0, l.indexOf(": unknown key"))),
            ['hanzo-sql:adminPasswrd = "[secret]"', 'hanzo-sql:namespce = "[not shown]"', 'hanzo-sql:adminPasword = "[not shown]"'],
        );
    });

    it("requires kmsProjectSlug only when a service syncs, and takes the CRD and interval from config", () => {
        assert.strictEqual(on(load({ ...VALID, kmsEnabled: true }).kms).projectSlug, "");
        assert.deepStrictEqual(load(VALID).kms, { enabled: false });
        const kms = on(
            load({ ...withServices({ name: "iam", kmsSync: true }), kmsEnabled: true, kmsProjectSlug: "hanzo", kmsResyncInterval: 300 })
                .kms,
        );
        assert.deepStrictEqual(
            { apiVersion: kms.apiVersion, kind: kms.kind, projectSlug: kms.projectSlug, resyncInterval: kms.resyncInterval },
            { apiVersion: "kms.hanzo.ai/v1", kind: "KMSSecret", projectSlug: "hanzo", resyncInterval: 300 },
        );
        assert.deepStrictEqual(
            problems({ ...withServices({ name: "iam", kmsSync: true }), kmsEnabled: true, kmsProjectSlug: "hanzo", kmsResyncInterval: 1 }),
            ["hanzo-sql:kmsResyncInterval = 1: must be at least 10 seconds"],
        );
    });
});
