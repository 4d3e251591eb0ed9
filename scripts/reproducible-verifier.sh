#!/usr/bin/env bash
# Build the static airlock-verify twice, from two copies of the source in two different
# directories, and check that both binaries have the same sha256: anyone with this source,
# the toolchain named in rust-toolchain.toml and the crates of Cargo.lock can rebuild the
# verifier a bundle carries (`airlock build --with-verifier`) and compare.
#
#   bash scripts/reproducible-verifier.sh [--out DIR] [--changed-source]
#
#   --out DIR          where the checked binary and its SHA256SUMS line go
#                      [default: target/reproducible]
#   --changed-source   a third build, with one string of the source changed, must differ
#                      (shows the comparison can fail; one build more)
#
# What makes the bytes equal: glibc linked statically (-C target-feature=+crt-static, so
# the binary runs on any x86_64 Linux), every build path remapped (--remap-path-prefix for
# Rust, -ffile-prefix-map for the C of aws-lc-sys), the date from SOURCE_DATE_EPOCH (the
# commit's date by default), symbols stripped, Cargo.lock exact (--locked).
# Built without the `pkcs11` feature (receipt keys on PKCS#11 tokens): a token module is
# loaded with dlopen, which statically linked glibc does not support reliably (the module
# needs the same glibc at run time); the packaged, dynamic verifier has it (docs/trust.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/reproducible
CHANGED=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$(realpath -m "$2"); shift 2 ;;
    --changed-source) CHANGED=1; shift ;;
    *) echo "usage: $0 [--out DIR] [--changed-source]" >&2; exit 2 ;;
  esac
done

TARGET=$(rustc -vV | sed -n 's/^host: //p')
SYSROOT=$(rustc --print sysroot)
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export AIRLOCK_COMMIT=${AIRLOCK_COMMIT:-$(git rev-parse --short=12 HEAD)}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
# Fixed settings of the release profile for this build, whatever Cargo.toml's say.
export CARGO_PROFILE_RELEASE_STRIP=symbols CARGO_PROFILE_RELEASE_DEBUG=false
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_INCREMENTAL=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/airlock-repro.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# copy DIR: the tracked and new (not ignored) files of the work tree, as they are now.
copy() {
  mkdir -p "$1"
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf - | tar -C "$1" -xf -
}

# build DIR: the static verifier from the copy in DIR (its target/ inside it, so one
# prefix map covers the sources and the build scripts' output).
build() {
  local dir=$1 maps
  maps="--remap-path-prefix=$dir=/airlock --remap-path-prefix=$CARGO_HOME=/cargo"
  maps+=" --remap-path-prefix=$SYSROOT=/rustc"
  (cd "$dir" && \
    RUSTFLAGS="-C target-feature=+crt-static $maps" \
    CFLAGS="-ffile-prefix-map=$dir=/airlock -ffile-prefix-map=$CARGO_HOME=/cargo" \
    nice -n 10 cargo build --release --locked --quiet --target "$TARGET" \
      -p airlock-verify --bin airlock-verify --no-default-features)
  echo "$dir/target/$TARGET/release/airlock-verify"
}

sum() { sha256sum "$1" | cut -d' ' -f1; }

start=$(date +%s)
echo "== copying the source to two directories under $WORK"
copy "$WORK/a/airlock"
copy "$WORK/b/second/copy/airlock"
echo "== build 1 in $WORK/a/airlock (commit $AIRLOCK_COMMIT, SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH, $TARGET)"
one=$(build "$WORK/a/airlock")
echo "   sha256 $(sum "$one")  ($(( $(date +%s) - start ))s so far)"
echo "== build 2 in $WORK/b/second/copy/airlock"
two=$(build "$WORK/b/second/copy/airlock")
echo "   sha256 $(sum "$two")  ($(( $(date +%s) - start ))s so far)"

if readelf -lW "$one" | grep -q 'program interpreter'; then
  echo "FAIL: $one is dynamically linked (it asks for a program interpreter)" >&2; exit 1
fi
if [ "$(sum "$one")" != "$(sum "$two")" ]; then
  echo "FAIL: the two builds differ" >&2
  cmp -l "$one" "$two" | head -5 >&2 || true
  exit 1
fi
"$one" --version

if [ "$CHANGED" = 1 ]; then
  echo "== build 3 with one changed help string (must differ)"
  copy "$WORK/c/airlock"
  f=$WORK/c/airlock/crates/airlock-verify/src/bin/airlock-verify/main.rs
  sed -i 's|/// Check signatures and every byte of a bundle; install nothing.|/// Check signatures and every byte of a bundle; install nothing (changed).|' "$f"
  grep -q 'install nothing (changed)' "$f" || { echo "FAIL: the line to change is gone from $f" >&2; exit 1; }
  three=$(build "$WORK/c/airlock")
  echo "   sha256 $(sum "$three")"
  if [ "$(sum "$three")" = "$(sum "$one")" ]; then
    echo "FAIL: a changed source gave the same binary" >&2; exit 1
  fi
  echo "   differs, as it must"
fi

mkdir -p "$OUT"
cp "$one" "$OUT/airlock-verify"
(cd "$OUT" && sha256sum airlock-verify > SHA256SUMS)
echo "OK: both builds are $(sum "$one"); written to $OUT/airlock-verify (+ SHA256SUMS) in $(( $(date +%s) - start ))s"
