/**
 * Mocha's Spec reporter, plus mocha's own counts written as JSON to $MOCHA_RESULT_FILE when set, so that
 * .ci/run can print "N passed, N failed" from mocha's result rather than from its console text.
 */
import * as fs from "fs";
import Mocha from "mocha";

class CountingSpec extends Mocha.reporters.Spec {
    constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
        super(runner, options);
        runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
            const file = process.env.MOCHA_RESULT_FILE;
            if (file) {
                const s = runner.stats!;
                fs.writeFileSync(
                    file,
                    JSON.stringify({ tests: s.tests, passes: s.passes, failures: s.failures, pending: s.pending }) + "\n",
                );
            }
        });
    }
}

export = CountingSpec;
