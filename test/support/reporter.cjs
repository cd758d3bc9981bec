// Mocha reporter: the spec output people read, plus a results file per suite that
// test/support/summary.mjs adds up into the closing "N passed, N failed" line.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Mocha = require('mocha');

class SuiteReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const suite = process.env.SUITE || 'mocha';
    const dir = process.env.RESULTS_DIR || path.resolve('.test-results');
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const { passes = 0, failures = 0, pending = 0 } = runner.stats || {};
      fs.mkdirSync(dir, { recursive: true });
      const record = { suite, passed: passes, failed: failures, skipped: pending };
      fs.writeFileSync(path.join(dir, `${suite}.json`), JSON.stringify(record) + '\n');
    });
  }
}
module.exports = SuiteReporter;
