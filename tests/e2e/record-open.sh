#!/bin/sh
# The end-to-end test's stand-in for a browser: scripts/e2e.sh sets CLOZE_OPEN_WITH to this script,
# so "Open in browser" runs it with the report's path as its one argument, and it appends that path
# to the file named by E2E_OPENED for the scenario to check.
printf '%s\n' "$1" >>"${E2E_OPENED:?E2E_OPENED is not set}"
