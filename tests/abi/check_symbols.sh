#!/bin/sh
# SPDX-License-Identifier: MIT
#
# ABI check: the shared library exports exactly the committed symbol list,
# every symbol carries the shmipc_ prefix and the LIBSHMIPC_0 version, the
# SONAME is the expected one, and the public header, the linker version
# script and the committed list name the same functions.
#
# usage: check_symbols.sh LIBRARY SYMBOLS_TXT HEADER MAP_FILE SONAME
# env:   NM, READELF (default: nm, readelf)
set -eu

if [ $# -ne 5 ]; then
  echo "usage: $0 LIBRARY SYMBOLS_TXT HEADER MAP_FILE SONAME" >&2
  exit 2
fi
lib=$1 symbols=$2 header=$3 map=$4 want_soname=$5
NM=${NM:-nm}
READELF=${READELF:-readelf}
export LC_ALL=C
version_node=LIBSHMIPC_0

for f in "$lib" "$symbols" "$header" "$map"; do
  if [ ! -f "$f" ]; then
    echo "FAIL: $f: no such file" >&2
    exit 1
  fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# report NAME FILE: print FILE's lines under a heading, mark the check failed.
report() {
  echo "FAIL: $1:" >&2
  sed 's/^/    /' "$2" >&2
  fail=1
}

# compare WHAT FILE: FILE (sorted names) must equal the committed list.
compare() {
  if ! diff -u "$symbols" "$2" >"$tmp/diff"; then
    echo "FAIL: $1 does not match $(basename "$symbols") (- committed, + $1):" >&2
    sed 's/^/    /' "$tmp/diff" >&2
    fail=1
  fi
}

# --- the committed list itself --------------------------------------
if ! sort -c -u "$symbols" 2>/dev/null; then
  echo "FAIL: $symbols is not sorted and unique (LC_ALL=C sort -u)" >&2
  fail=1
fi
if [ ! -s "$symbols" ]; then
  echo "FAIL: $symbols is empty" >&2
  exit 1
fi

# --- SONAME ---------------------------------------------------------
soname=$("$READELF" -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "$want_soname" ]; then
  echo "FAIL: SONAME of $lib is '${soname:-<none>}', expected '$want_soname'" >&2
  fail=1
fi

# --- exported symbols -----------------------------------------------
# nm -D prints "ADDR TYPE NAME[@[@]VERSION]"; the version node itself shows
# up as an absolute symbol named after the node.
"$NM" -D --defined-only "$lib" >"$tmp/nm"
awk '{ print $NF }' "$tmp/nm" >"$tmp/raw"
grep -v -x "$version_node" "$tmp/raw" | sed 's/@.*//' | sort -u >"$tmp/exported"

if ! grep -q -x "$version_node" "$tmp/raw" &&
   ! "$READELF" -V "$lib" | grep -q "Name: $version_node\$"; then
  echo "FAIL: $lib defines no version node $version_node (version script not applied?)" >&2
  fail=1
fi

# Every exported symbol is versioned LIBSHMIPC_0 (when nm shows versions;
# binutils >= 2.35 does).
if grep -q '@' "$tmp/raw"; then
  grep -v -x "$version_node" "$tmp/raw" | grep -v "@@\{0,1\}$version_node\$" \
    >"$tmp/unversioned" || true
  if [ -s "$tmp/unversioned" ]; then
    report "symbols without version $version_node" "$tmp/unversioned"
  fi
fi

grep -v '^shmipc_' "$tmp/exported" >"$tmp/foreign" || true
if [ -s "$tmp/foreign" ]; then
  report "exported symbols without the shmipc_ prefix" "$tmp/foreign"
fi
grep '^shmipc__' "$tmp/exported" >"$tmp/internal" || true
if [ -s "$tmp/internal" ]; then
  report "internal (shmipc__) symbols exported" "$tmp/internal"
fi
compare "exported symbols of $(basename "$lib")" "$tmp/exported"

# --- header ---------------------------------------------------------
# Declarations read "SHMIPC_EXPORT <type> <name>(" with the name and the
# opening parenthesis on the first line.
grep '^[[:space:]]*SHMIPC_EXPORT[[:space:]]' "$header" |
  sed -n 's/^\([^(]*[^A-Za-z0-9_(]\)\{0,1\}\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*(.*/\2/p' |
  sort -u >"$tmp/header"
if [ "$(grep -c '^[[:space:]]*SHMIPC_EXPORT[[:space:]]' "$header")" -ne "$(wc -l <"$tmp/header")" ]; then
  echo "FAIL: could not parse every SHMIPC_EXPORT declaration in $header" >&2
  fail=1
fi
# A public function declared without SHMIPC_EXPORT would be hidden.
grep -E '^[A-Za-z_][A-Za-z0-9_ *]*[ *]shmipc_[A-Za-z0-9_]+[[:space:]]*\(' "$header" |
  grep -v -E '^(SHMIPC_EXPORT|typedef|#)' >"$tmp/unexported" || true
if [ -s "$tmp/unexported" ]; then
  report "functions declared in $(basename "$header") without SHMIPC_EXPORT" "$tmp/unexported"
fi
compare "SHMIPC_EXPORT functions in $(basename "$header")" "$tmp/header"

# --- version script -------------------------------------------------
# Names listed under "global:" in the node, up to "local:".
sed 's@/\*.*\*/@@; s/#.*//' "$map" | awk '
  /^[[:space:]]*global:/ { on = 1; sub(/^[[:space:]]*global:/, "") }
  /^[[:space:]]*local:/  { on = 0 }
  on {
    n = split($0, w, /[[:space:];]+/)
    for (i = 1; i <= n; i++) if (w[i] != "") print w[i]
  }' | sort -u >"$tmp/map"
if grep -q '[*?[]' "$tmp/map"; then
  report "wildcards in the global: list of $(basename "$map")" "$tmp/map"
fi
compare "global: names in $(basename "$map")" "$tmp/map"

if [ "$fail" -ne 0 ]; then
  echo "ABI symbol check FAILED. If the change is intended, update" >&2
  echo "tests/abi/symbols.txt, src/libshmipc.map and the header together." >&2
  exit 1
fi
echo "ok: $(wc -l <"$symbols") symbols, SONAME $soname, version $version_node;" \
  "library, header, map and symbols.txt agree"
