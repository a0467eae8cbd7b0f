#!/bin/sh
# test.sh -- the README's test command: installs what the tests need (Debian packages, npm test
# clients), builds, runs the whole suite, then runs it again under AddressSanitizer + UBSan, then
# each fuzzer briefly (tests/all.sh, as `make test` does). The last line is "N passed, M failed"
# over all of it; the exit status is non-zero when anything failed.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test
# Not through `make test`: make would print its own error line after the summary.
exec tests/all.sh
