#!/bin/sh
# run.sh -- the README's run command: installs the build dependencies, builds, and starts
# httpfstream-server on the default root (/tmp/httpfstream) and address (:8080). Extra arguments
# go to the server, e.g. scripts/run.sh -http=127.0.0.1:9000 -root=/var/lib/hfs
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh build
make
exec build/bin/httpfstream-server "$@"
