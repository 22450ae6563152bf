#!/bin/sh
# SPDX-License-Identifier: MIT
#
# ABI check for the Windows build: shmipc.dll exports exactly the committed
# symbol list (the SHMIPC_EXPORT declarations; the ELF check in
# check_symbols.sh ties that list to the header and the version script),
# and imports only system DLLs, so it ships alone.
#
# usage: check_dll_exports.sh DLL SYMBOLS_TXT
# env:   OBJDUMP (default: x86_64-w64-mingw32-objdump)
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 DLL SYMBOLS_TXT" >&2
  exit 2
fi
dll=$1 symbols=$2
OBJDUMP=${OBJDUMP:-x86_64-w64-mingw32-objdump}
export LC_ALL=C
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

if [ "$(basename "$dll")" != shmipc.dll ]; then
  echo "FAIL: the library is $(basename "$dll"), expected shmipc.dll" >&2
  fail=1
fi
"$OBJDUMP" -p "$dll" >"$tmp/p"
# The export names follow "[Ordinal/Name Pointer] Table" as "[ n] name".
sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' "$tmp/p" |
  sed -n 's/^[[:space:]]*\[[[:space:]]*[0-9]*\][[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)$/\1/p' |
  sort -u >"$tmp/exported"
if [ ! -s "$tmp/exported" ]; then
  echo "FAIL: no export table found in $dll" >&2
  exit 1
fi
if ! diff -u "$symbols" "$tmp/exported" >"$tmp/diff"; then
  echo "FAIL: exports of $(basename "$dll") do not match $(basename "$symbols") (- committed, + DLL):" >&2
  sed 's/^/    /' "$tmp/diff" >&2
  fail=1
fi
# Imports: Windows itself and the C runtime only (no libgcc, no
# libwinpthread: they would have to ship beside the DLL).
sed -n 's/^[[:space:]]*DLL Name: //p' "$tmp/p" | tr 'A-Z' 'a-z' | sort -u >"$tmp/imports"
grep -v -x -E 'kernel32\.dll|advapi32\.dll|bcrypt\.dll|msvcrt\.dll|ucrtbase\.dll|api-ms-win-[a-z0-9-]+\.dll|vcruntime[0-9]+\.dll' \
  "$tmp/imports" >"$tmp/foreign" || true
if [ -s "$tmp/foreign" ]; then
  echo "FAIL: $(basename "$dll") imports non-system DLLs:" >&2
  sed 's/^/    /' "$tmp/foreign" >&2
  fail=1
fi
if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "ok: $(wc -l <"$symbols") symbols exported by $(basename "$dll");" \
  "imports: $(tr '\n' ' ' <"$tmp/imports")"
