#!/bin/sh
# embed.sh -- turns a file into C: a byte array NAME and its length NAME_len, so that a page the
# server sends is compiled into the library rather than read from disk at run time.
# Usage: scripts/embed.sh FILE NAME > OUT.c
set -eu
file=$1
name=$2
echo "/* Generated from $file by scripts/embed.sh: do not edit. */"
echo "#include <stddef.h>"
echo "const char ${name}[] = {"
od -An -v -tu1 "$file" | awk '{ line = "   "; for (i = 1; i <= NF; i++) line = line " " $i ","; print line }'
echo "};"
echo "const size_t ${name}_len = sizeof(${name});"
