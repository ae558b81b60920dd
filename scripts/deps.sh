#!/bin/sh
# scripts/deps.sh [fuzz|bench] — installs the Debian packages axle needs,
# only those that are missing. With `fuzz`, only what `make fuzz` adds: clang
# and libFuzzer (libclang-rt-14-dev holds the runtime -fsanitize=fuzzer
# links; clang only recommends it). With `bench`, only what `make bench`
# adds: ZeroMQ (a baseline of stream.thr, shm.rtt and shm.thr) and iceoryx's
# C binding with its RouDi daemon (a baseline of shm.rtt and shm.thr). Runs
# `apt-get update` only when something must be installed; does nothing (and
# needs no root) when every package is already present.
set -eu

case "${1:-}" in
"")
    PKGS="cmake make gcc pkg-config liburing-dev libprotobuf-c-dev protobuf-c-compiler \
libreadline-dev check libsodium-dev libdw-dev"
    ;;
fuzz)
    PKGS="clang libclang-rt-14-dev libfuzzer-14-dev"
    ;;
bench)
    PKGS="libzmq3-dev libiceoryx-binding-c-dev iceoryx"
    ;;
*)
    echo "usage: $0 [fuzz|bench]" >&2
    exit 2
    ;;
esac

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

echo "axle: installing missing Debian packages:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "axle: need root (or sudo) to install:$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
