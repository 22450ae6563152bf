#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The Go guest as an outside module sees it: build tests/install/go_consumer
# (its own go.mod, importing github.com/libshmipc/libshmipc/go) with
# CGO_ENABLED=0 and, when HOST_EXAMPLE is given, run that host against the
# built consumer (it echoes, as host_example expects).
#
# usage: go_consumer.sh GO CONSUMER_DIR [HOST_EXAMPLE]
set -eu

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 GO CONSUMER_DIR [HOST_EXAMPLE]" >&2
  exit 2
fi
go=$1 dir=$2 host=${3:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmipc-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# GOWORK=off: a go.work higher up must not change what the module sees.
# -mod=readonly: never rewrite the committed go.mod. GOPROXY=off and
# GOTOOLCHAIN=local: the only requirement is replaced by a local directory,
# so nothing may be downloaded.
if ! CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly GOPROXY=off \
  GOTOOLCHAIN=local \
  "$go" -C "$dir" build -trimpath -o "$tmp/shmipc-consumer" . ; then
  echo "FAIL: the outside Go module in $dir does not build against go/" >&2
  exit 1
fi
echo "ok: built $dir with CGO_ENABLED=0"

if [ -z "$host" ]; then
  exit 0
fi

name=shmipc-consumer-$$-$(date +%s)
run=""
if command -v timeout >/dev/null 2>&1; then
  run="timeout -k 5 60"
fi
# shellcheck disable=SC2086 # run is a word list
if ! $run "$host" "$name" "$tmp/shmipc-consumer"; then
  rm -f "/dev/shm/shmipc-$name" 2>/dev/null || true
  echo "FAIL: $(basename "$host") against the consumer module failed" >&2
  exit 1
fi
echo "ok: $(basename "$host") ran against the consumer module"
