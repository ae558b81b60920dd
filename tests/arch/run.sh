#!/bin/sh
# tests/arch/run.sh — run the context-switch test natively, and for aarch64
# under qemu-user when aarch64-linux-gnu-gcc and qemu-aarch64 are installed
# (exit 77, "skipped", for that half when they are not). From the repo root
# or anywhere: paths are taken from this script's location.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

build() { # $1 compiler, $2 output
    "$1" -std=gnu17 -O2 -Wall -Wextra -o "$2" "$here/switch_test.c" "$root/core/fiber.c" \
        "$root/core/arch/switch_x86_64.S" "$root/core/arch/switch_aarch64.S" -lm
}

build "${CC:-cc}" "$tmp/native"
"$tmp/native"

if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
    build aarch64-linux-gnu-gcc "$tmp/aarch64"
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$tmp/aarch64"
else
    echo "aarch64: skipped (no aarch64-linux-gnu-gcc or qemu-aarch64)"
fi
