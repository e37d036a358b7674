#!/bin/bash
# The whole test suite, as `npm test` and CI run it on a fresh machine:
# dependencies, the lab's real programs (as root), type check, unit and lab tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Not `npm ci`: the lockfile lacks some platforms' optional packages (jest's
# resolver bindings), which makes `npm ci` refuse it; `npm install --no-save`
# keeps the locked versions and leaves the lockfile alone.
if [ ! -d node_modules ] || ! npm ls --depth=0 >/dev/null 2>&1; then
  echo "== installing npm dependencies"
  npm install --no-save --no-audit --no-fund
fi

if [ "$(id -u)" -eq 0 ]; then
  echo "== lab prerequisites"
  bash scripts/install-prereqs.sh
else
  echo "== not root: lab prerequisites not checked (lab tests skip outside CI)"
fi

echo "== type check"
npx tsc --noEmit -p .

echo "== jest (unit and lab)"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
set +e
npx jest --ci --json --outputFile="$report" "$@"
status=$?
set -e
# One plain closing line that any reader understands.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
exit "$status"
