import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { importGraph } from "./imports.test";

/** One definition of every constant the whole tree shares: the program, the CLIs and the pack import it. */
const ROOT = path.resolve(__dirname, "..", "..", "..");

describe("the house: one definition of each shared constant", () => {
    const sources = [...importGraph().keys()].filter((f) => !f.startsWith("test/"));
    for (const literal of ['"hanzo-sql"', '"04da6b54-80e4-46f7-96ec-b56ff0331ba9"']) {
        it(`${literal} is written in policies/standard/types.ts only`, () => {
            const writers = sources.filter((f) => fs.readFileSync(path.join(ROOT, f), "utf8").includes(literal));
            assert.deepStrictEqual(writers, ["policies/standard/types.ts"]);
        });
    }
});
