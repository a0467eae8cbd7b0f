#!/bin/sh
# test_sign.sh -- httpfstream-sign as a user runs it: usage errors exit 2 with a message, an
# unreadable or empty key exits 1, and the URL printed carries expires (now + the ttl), rights (in
# the order read, append, delete) and sig, base64url of 43 characters that equals HMAC-SHA256 computed here by
# `openssl dgst` over "httpfstream-sign-v1\nRIGHTS\nEXPIRES\nPATH", for the path the server routes
# on (decoded, cleaned) or, with -prefix, its directory. The parameters go after any query, before
# a fragment. The man page's SYNOPSIS names every flag -h lists.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
sign=$HFS_BIN/httpfstream-sign
tmp=$(mktemp -d /tmp/hfs-sign.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP PIPE INT TERM
command -v openssl >/dev/null || fail "openssl is needed"
[ -x "$sign" ] || fail "no $sign (make cmds)"

key=k3y-for-tests
printf '%s\n' "$key" >"$tmp/key"
printf '%s' "$key" >"$tmp/key-nonl"
: >"$tmp/empty"

# expect_usage WHAT ARGS...: exit 2, "error: ..." and the usage on stderr, nothing on stdout.
expect_usage() {
    what=$1
    shift
    "$sign" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "$what: exit $rc, want 2 (stderr: $(cat "$tmp/err"))"
    grep -q '^error: ' "$tmp/err" || fail "$what: no error line: $(cat "$tmp/err")"
    grep -q '^usage: httpfstream-sign ' "$tmp/err" || fail "$what: no usage: $(cat "$tmp/err")"
    [ ! -s "$tmp/out" ] || fail "$what: printed $(cat "$tmp/out")"
}

# hmac RIGHTS EXPIRES PATH: the expected sig, by openssl.
hmac() {
    printf 'httpfstream-sign-v1\n%s\n%s\n%s' "$1" "$2" "$3" |
        openssl dgst -sha256 -mac HMAC -macopt "key:$key" -binary | base64 | tr -d '=\n' | tr '+/' '-_'
}

# param NAME URL: the value of a query parameter of URL (fragment dropped).
param() {
    printf '%s' "${2%%#*}" | sed 's/^[^?]*?/\&/' | tr '&' '\n' | sed -n "s/^$1=//p"
}

# signs WHAT WANT_PREFIX WANT_PATH WANT_TTL WANT_SUFFIX ARGS...: runs the command and checks the
# URL: WANT_PREFIX, then the parameters, then WANT_SUFFIX; expires near now + WANT_TTL; the sig
# over WANT_PATH.
signs() {
    what=$1 want_prefix=$2 want_path=$3 want_ttl=$4 want_suffix=$5
    shift 5
    before=$(date +%s)
    url=$("$sign" "$@" 2>"$tmp/err") || fail "$what: exit $? ($(cat "$tmp/err"))"
    after=$(date +%s)
    [ "$(printf '%s\n' "$url" | wc -l)" -eq 1 ] || fail "$what: not one line: $url"
    expires=$(param expires "$url")
    rights=$(param rights "$url")
    sig=$(param sig "$url")
    case "$expires" in '' | *[!0-9]*) fail "$what: expires [$expires] in $url" ;; esac
    if [ "$expires" -lt $((before + want_ttl)) ] || [ "$expires" -gt $((after + want_ttl)) ]; then
        fail "$what: expires $expires, want $before..$after + $want_ttl"
    fi
    printf '%s' "$sig" | grep -qxE '[A-Za-z0-9_-]{43}' || fail "$what: sig [$sig] is not base64url of 32 bytes"
    expect_eq "$what: the URL" "$url" "${want_prefix}expires=$expires&rights=$rights&sig=$sig$want_suffix"
    expect_eq "$what: sig (HMAC-SHA256 by openssl over $want_path)" "$sig" "$(hmac "$rights" "$expires" "$want_path")"
}

check "-h lists the flags and exits 0"
"$sign" -h >"$tmp/help" 2>&1 || fail "-h: exit $?"
synopsis=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$top/man/httpfstream-sign.1" |
    sed 's/^\.[A-Z]* //; s/\\-/-/g; s/ //g')
for f in -key=FILE -rights=RIGHTS -ttl=DURATION -prefix; do
    grep -q "^  $f " "$tmp/help" || fail "-h does not list $f: $(cat "$tmp/help")"
    printf '%s\n' "$synopsis" | grep -q -e "^$f\$" -e "^\[$f\]\$" ||
        fail "man/httpfstream-sign.1 SYNOPSIS lacks $f: $synopsis"
done
[ "$(grep -c '^  -' "$tmp/help")" -eq 5 ] || fail "-h lists other flags: $(cat "$tmp/help")"

check "usage errors exit 2"
k=-key=$tmp/key
expect_usage "no arguments"
expect_usage "no URL" "$k" -rights=read -ttl=1h
expect_usage "two URLs" "$k" -rights=read -ttl=1h http://h/a http://h/b
expect_usage "no -key" -rights=read -ttl=1h http://h/a
expect_usage "no -rights" "$k" -ttl=1h http://h/a
expect_usage "no -ttl" "$k" -rights=read http://h/a
expect_usage "unknown flag" "$k" -rights=read -ttl=1h -expires=5 http://h/a
expect_usage "-key without a value" -rights=read -ttl=1h -key
for r in write "read," ",read" "read,,append" Read "read append" ""; do
    expect_usage "-rights=$r" "$k" "-rights=$r" -ttl=1h http://h/a
done
for t in 0 0s "" abc 5x -5 1.5h h 1h30 "1h 30m" 99999999999999999999 9223372036854775807d; do
    expect_usage "-ttl=$t" "$k" -rights=read "-ttl=$t" http://h/a
done
for u in ftp://h/a h/a "" http:// http:///a mailto:a@b; do
    expect_usage "URL [$u]" "$k" -rights=read -ttl=1h "$u"
done
expect_usage "a bad escape" "$k" -rights=read -ttl=1h 'http://h/a%zzb'
expect_usage "a NUL byte" "$k" -rights=read -ttl=1h 'http://h/a%00b'
expect_usage "already signed" "$k" -rights=read -ttl=1h 'http://h/a?expires=1'
expect_usage "already signed (escaped key)" "$k" -rights=read -ttl=1h 'http://h/a?x=1&%73ig=abc'

check "an unreadable or empty key exits 1"
for f in "$tmp/missing" "$tmp" "$tmp/empty"; do
    "$sign" "-key=$f" -rights=read -ttl=1h http://h/a >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 1 ] || fail "-key=$f: exit $rc, want 1"
    grep -q "^httpfstream-sign: $f: " "$tmp/err" || fail "-key=$f: message: $(cat "$tmp/err")"
    [ ! -s "$tmp/out" ] || fail "-key=$f: printed $(cat "$tmp/out")"
done

check "the signed URL: its parameters, and the sig against openssl"
signs "a path" "http://h:8080/ci/job-1.log?" /ci/job-1.log 3600 "" \
    "$k" -rights=read -ttl=1h http://h:8080/ci/job-1.log
signs "a key file without a newline" "http://h/x?" /x 90 "" \
    "-key=$tmp/key-nonl" -rights=append -ttl=90 http://h/x
signs "two dashes, flag values apart" "https://h/x?" /x 5400 "" \
    --key "$tmp/key" --rights append,read --ttl 1h30m https://h/x
expect_eq "rights in the order read, append, delete" "$rights" read,append
for r in read append delete read,append append,delete read,delete delete,append,read,read; do
    signs "-rights=$r" "http://h/x?" /x 60 "" "$k" "-rights=$r" -ttl=60 http://h/x
    want=$(for w in read append delete; do case ",$r," in *,$w,*) printf '%s,' $w ;; esac; done)
    expect_eq "-rights=$r: rights" "$rights" "${want%,}"
done
signs "days" "ws://h/v1/stream/s?" /v1/stream/s 172800 "" "$k" -rights=read,append,delete -ttl=2d ws://h/v1/stream/s
signs "an existing query" "http://h/x?a=1&b=2&" /x 60 "" "$k" -rights=read -ttl=1m 'http://h/x?a=1&b=2'
signs "an empty query" "http://h/x?" /x 60 "" "$k" -rights=read -ttl=60s 'http://h/x?'
signs "a fragment" "http://h/x?a=1&" /x 60 "#end" "$k" -rights=read -ttl=60 'http://h/x?a=1#end'
signs "a fragment, no query" "http://h/x?" /x 60 "#end" "$k" -rights=read -ttl=60 'http://h/x#end'
signs "no path" "http://h?" / 60 "" "$k" -rights=read -ttl=60 http://h
signs "a bare path" "/a/b?" /a/b 60 "" "$k" -rights=read -ttl=60 /a/b
signs "decoded and cleaned" "http://h/a/./b%20c//x/../d%2Flog?" "/a/b c/d/log" 60 "" \
    "$k" -rights=read -ttl=60 'http://h/a/./b%20c//x/../d%2Flog'
signs "-prefix: the directory" "http://h/ci/job-1.log?" /ci/ 60 "" \
    "$k" -rights=read -ttl=60 -prefix http://h/ci/job-1.log
signs "-prefix: a directory URL" "http://h/ci/?" /ci/ 60 "" "$k" -rights=read -ttl=60 -prefix http://h/ci/
signs "-prefix: the root" "http://h/x?" / 60 "" "$k" -rights=read -ttl=60 -prefix http://h/x
signs "-prefix: cleaned first" "http://h/a/b/..?" / 60 "" "$k" -rights=read -ttl=60 -prefix http://h/a/b/..

check "the key is nowhere in the output"
"$sign" "$k" -rights=read -ttl=60 http://h/x >"$tmp/out" 2>&1 || fail "exit $?"
! grep -q "$key" "$tmp/out" || fail "the key appears: $(cat "$tmp/out")"

echo "ok: test_sign"
