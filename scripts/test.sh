#!/bin/sh
# test.sh -- the README's test command: installs what the tests need (Debian packages, npm test
# clients), builds, runs the whole suite, then runs it again under AddressSanitizer + UBSan.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test
make test
