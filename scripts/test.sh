#!/bin/bash
# The whole test suite, as `npm test` and CI run it on a fresh machine:
# dependencies, the lab's real programs (as root), type check, unit and lab tests.
# As an unprivileged user outside CI the lab is skipped with one line.
set -euo pipefail
cd "$(dirname "$0")/.."

# Programs the unit tests check rendered files with (dnsmasq --test, unbound-checkconf)
# live in sbin, which is not on an unprivileged user's PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

if [ ! -d node_modules ]; then
  echo "== installing npm dependencies (npm ci: exactly package-lock.json)"
  npm ci --no-audit --no-fund
elif ! npm ls --depth=0 >/dev/null 2>&1; then
  # Not reinstalled here: npm ci empties node_modules first, under anything else running from it.
  echo "== warning: node_modules does not match package-lock.json; run npm ci"
fi

if [ "$(id -u)" -eq 0 ]; then
  echo "== lab prerequisites"
  bash scripts/install-prereqs.sh
fi

echo "== type check"
npx tsc --noEmit -p .

# The lab needs root and real programs; without them it fails on CI and is skipped here.
projects=(--selectProjects unit lab)
lab_missing=$(npx tsx -e 'import { labPrerequisites } from "./test/lab/lab"; const p = labPrerequisites(); if (!p.ok) console.log(p.reason);')
if [ -n "$lab_missing" ] && [ "${CI:-}" != "true" ]; then
  echo "== lab tests not run: $lab_missing (CI=true makes this a failure)"
  projects=(--selectProjects unit)
fi

echo "== jest (${projects[*]:1})"
npx jest --ci "${projects[@]}" --reporters=default --reporters="$PWD/scripts/summary-reporter.js" "$@"
