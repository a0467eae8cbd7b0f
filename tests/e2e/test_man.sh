#!/bin/sh
# test_man.sh -- each command's man page (man/NAME.1) has a SYNOPSIS that lists exactly the flags its
# `-h` lists, with the same value placeholder (-resume=N, -cacert=FILE, -v): a flag -h lists that the
# SYNOPSIS leaves out fails, and so does one the SYNOPSIS shows that -h does not know. -h and -help,
# which every command has, are left out of the comparison (OPTIONS describes them).
# The SYNOPSIS is read from the troff source: the font macros (.B, .I, .BR, .RB, .IR, ...), \c, \f
# escapes, \- and \%; a flag is "-name" or "-name=PLACEHOLDER" after "[", "|" or a space.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/hfs-man.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP PIPE INT TERM

# synopsis_text PAGE: the SYNOPSIS section of a man page as plain text.
synopsis_text() {
    awk '
    # Splits a macro line into its arguments (double quotes group words) and joins them: with
    # nothing between for the alternating-font macros, with spaces for the others.
    function args(line, sep,   out, a, i, c, q, n) {
        out = ""; a = ""; q = 0; n = 0
        for (i = 1; i <= length(line); i++) {
            c = substr(line, i, 1)
            if (c == "\"") { q = !q; continue }
            if (c == " " && !q) {
                if (a != "") { out = out (n++ ? sep : "") a; a = "" }
                continue
            }
            a = a c
        }
        if (a != "")
            out = out (n++ ? sep : "") a
        return out
    }
    /^\.SH/ { on = ($2 == "SYNOPSIS"); next }
    !on { next }
    {
        line = $0
        if (line ~ /^\./) {
            m = line; sub(/[ \t].*/, "", m); m = substr(m, 2)
            rest = line; if (!sub(/^[^ \t]*[ \t]+/, "", rest)) rest = ""
            if (m ~ /^(BR|RB|IR|RI|BI|IB)$/)
                line = args(rest, "")
            else if (m ~ /^(B|I|R|SM|SB)$/)
                line = args(rest, " ")
            else
                next # .br, .ad, .nh, comments: no text
        }
        if (line ~ /\\c$/) {
            text = text substr(line, 1, length(line) - 2)
            next
        }
        text = text line " "
    }
    END {
        gsub(/\\f(\[[^]]*\]|\(..|.)/, "", text)
        gsub(/\\-/, "-", text)
        gsub(/\\[%&|]/, "", text)
        gsub(/\\ /, " ", text)
        print text
    }' "$1"
}

# synopsis_flags PAGE: the flags its SYNOPSIS shows, one a line, sorted.
synopsis_flags() {
    synopsis_text "$1" | grep -oE '(^|[[| ])-[a-z][a-z0-9-]*(=[A-Za-z_]+)?' | sed 's/^[[| ]//' | sort -u
}

# help_flags COMMAND: the flags `COMMAND -h` lists (the lines "  -name[=ARG]  what"), sorted.
help_flags() {
    "$1" -h | sed -n 's/^  \(-[^ ,]*\) .*/\1/p' | grep -vxE -- '-h|-help' | sort -u
}

check "the parser reads each form the pages use"
cat >"$tmp/t.1" <<'EOF'
.TH T 1
.SH NAME
t \- a test page \-notaflag
.SH SYNOPSIS
.B t
.RB [ \-v ]
.RB [ \-cacert=\c
.IR FILE ]
.RB [ \-offset=\c
.IR N |\c
.B \-n=\c
.IR LINES ]
\%[\fB\-max\-size\fR=\fIBYTES\fR] [\fB\-a\fR | \fB\-q\fR]
.I URL
.SH OPTIONS
.B \-other
EOF
expect_eq "parsed SYNOPSIS text" "$(synopsis_text "$tmp/t.1")" \
    "t [-v] [-cacert=FILE] [-offset=N|-n=LINES] [-max-size=BYTES] [-a | -q] URL "
expect_eq "parsed SYNOPSIS flags" "$(synopsis_flags "$tmp/t.1" | tr '\n' ' ')" \
    "-a -cacert=FILE -max-size=BYTES -n=LINES -offset=N -q -v "

for cmd in httpfstream-server httpfstream-append httpfstream-follow httpfstream-sign; do
    check "$cmd: the SYNOPSIS of man/$cmd.1 lists exactly the flags of $cmd -h"
    page=$top/man/$cmd.1
    [ -f "$page" ] || fail "no man page $page"
    help_flags "$HFS_BIN/$cmd" >"$tmp/help" || fail "$cmd -h failed"
    synopsis_flags "$page" >"$tmp/syn"
    [ -s "$tmp/help" ] || fail "$cmd -h lists no flags: $("$HFS_BIN/$cmd" -h 2>&1)"
    missing=$(comm -23 "$tmp/help" "$tmp/syn" | tr '\n' ' ')
    extra=$(comm -13 "$tmp/help" "$tmp/syn" | tr '\n' ' ')
    [ -z "$missing" ] || fail "man/$cmd.1 SYNOPSIS lacks what $cmd -h lists: $missing(SYNOPSIS: $(synopsis_text "$page"))"
    [ -z "$extra" ] || fail "man/$cmd.1 SYNOPSIS shows what $cmd -h does not list: $extra"
done

echo "ok: test_man"
