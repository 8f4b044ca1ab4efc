#!/bin/sh
# The end-to-end test's stand-in for a browser: scripts/e2e.sh sets CLOZE_OPEN_WITH to this script,
# so "Open in browser" runs it with the report's path as its one argument, and it records that path
# in the file named by E2E_OPENED for the scenario to check. The file is written under a temporary
# name and renamed into place, so the scenario (which waits for the file to exist) never reads it
# half written — it once read an empty file in CI.
out="${E2E_OPENED:?E2E_OPENED is not set}"
printf '%s\n' "$1" >"$out.tmp.$$" && mv -f "$out.tmp.$$" "$out"
