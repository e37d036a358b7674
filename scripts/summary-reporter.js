// A jest reporter that prints one plain closing line ("N passed, N failed[, N skipped]")
// from the run's counts. It replaces `--json`, whose serializer crashes on a failure
// whose error object is circular, and then nothing is printed at all.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const suitesCrashed = results.numRuntimeErrorTestSuites;
    console.log(
      `${results.numPassedTests} passed, ${results.numFailedTests} failed` +
        (skipped ? `, ${skipped} skipped` : "") +
        (suitesCrashed ? `, ${suitesCrashed} suite(s) could not run` : ""),
    );
  }
}
module.exports = SummaryReporter;
