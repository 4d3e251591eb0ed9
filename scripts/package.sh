#!/usr/bin/env bash
# Build the Debian packages: airlock (the connected side) and airlock-verify (the enclave
# side, installed alone inside the air gap). Each holds its binary in /usr/bin, man pages
# generated from its clap definitions, and bash, zsh and fish completions. Made with
# Debian's own dpkg-deb; the same inputs and SOURCE_DATE_EPOCH give the same .deb bytes.
#
#   bash scripts/package.sh [--bin-dir DIR] [--verifier FILE] [--out DIR]
#
#   --bin-dir DIR    take airlock and airlock-verify from DIR [default: build them with
#                    `cargo build --release --locked` and take them from its target dir]
#   --verifier FILE  the airlock-verify to package instead, e.g. the static, reproducible
#                    one (scripts/reproducible-verifier.sh writes target/reproducible/)
#   --out DIR        where the .deb files go [default: target/debian]
#   --fast           gzip -1 instead of xz (for tests of debug builds)
#
# Then: apt-get install ./target/debian/airlock-verify_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN_DIR="" VERIFIER="" OUT=$ROOT/target/debian COMPRESS=(-Zxz)
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) BIN_DIR=$(realpath "$2"); shift 2 ;;
    --verifier) VERIFIER=$(realpath "$2"); shift 2 ;;
    --out) OUT=$(realpath -m "$2"); shift 2 ;;
    --fast) COMPRESS=(-Zgzip -z1); shift ;;
    *) echo "usage: $0 [--bin-dir DIR] [--verifier FILE] [--out DIR] [--fast]" >&2; exit 2 ;;
  esac
done

if [ -z "$BIN_DIR" ]; then
  echo "== building the release binaries (cargo build --release; several minutes the first time)"
  nice -n 10 cargo build --release --locked --bins
  BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
fi
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
ARCH=$(dpkg --print-architecture)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/airlock-package.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

# depends BINARY: the Depends line for a binary's shared libraries (none when static):
# each library's Debian package, libc6 at least at the newest GLIBC_ symbol version used.
depends() {
  local bin=$1 lib pkg glibc out=()
  for lib in $(readelf -dW "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    pkg=$(dpkg-query -S "*/$lib" 2>/dev/null | head -1 | cut -d: -f1) \
      || { echo "no Debian package holds $lib (needed by $bin)" >&2; exit 1; }
    [ -n "$pkg" ] || { echo "no Debian package holds $lib (needed by $bin)" >&2; exit 1; }
    if [ "$pkg" = libc6 ]; then
      glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
      pkg="libc6 (>= $glibc)"
    fi
    out+=("$pkg")
  done
  printf '%s\n' "${out[@]}" | sort -u | paste -sd, | sed 's/,/, /g'
}

# package NAME BINARY DESCRIPTION EXTENDED
package() {
  local name=$1 bin=$2 summary=$3 extended=$4 root=$WORK/$1
  echo "== $name $VERSION ($ARCH) from $bin"
  install -D -m 0755 "$bin" "$root/usr/bin/$name"
  # Debian ships binaries without debug sections (the reproducible verifier has none, so
  # it stays byte for byte the binary that was checked).
  if readelf -SW "$bin" | grep -q ' \.debug_'; then
    objcopy --strip-debug "$root/usr/bin/$name"
  fi
  mkdir -p "$root/usr/share/man/man1"
  "$bin" man-pages --out "$root/usr/share/man/man1"
  gzip -9n "$root"/usr/share/man/man1/*.1
  install -d "$root/usr/share/bash-completion/completions" \
    "$root/usr/share/zsh/vendor-completions" "$root/usr/share/fish/vendor_completions.d"
  "$bin" completions bash > "$root/usr/share/bash-completion/completions/$name"
  "$bin" completions zsh > "$root/usr/share/zsh/vendor-completions/_$name"
  "$bin" completions fish > "$root/usr/share/fish/vendor_completions.d/$name.fish"
  install -d "$root/usr/share/doc/$name"
  printf 'Upstream: airlock\nLicense: Apache-2.0\n See /usr/share/common-licenses/Apache-2.0.\n' \
    > "$root/usr/share/doc/$name/copyright"
  gzip -9n < CHANGELOG.md > "$root/usr/share/doc/$name/changelog.gz"
  local deps size
  deps=$(depends "$bin")
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  mkdir -p "$root/DEBIAN"
  {
    echo "Package: $name"
    echo "Version: $VERSION"
    echo "Architecture: $ARCH"
    echo "Maintainer: airlock maintainers <airlock@localhost>"
    echo "Section: admin"
    echo "Priority: optional"
    echo "Installed-Size: $size"
    [ -z "$deps" ] || echo "Depends: $deps"
    echo "Suggests: minisign"
    echo "Description: $summary"
    echo "$extended" | fold -s -w 78 | sed 's/ *$//; s/^/ /'
  } > "$root/DEBIAN/control"
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  dpkg-deb --root-owner-group "${COMPRESS[@]}" --build "$root" "$OUT/${name}_${VERSION}_${ARCH}.deb" >/dev/null
  echo "   $OUT/${name}_${VERSION}_${ARCH}.deb ($(stat -c %s "$OUT/${name}_${VERSION}_${ARCH}.deb") bytes${deps:+, depends: $deps})"
}

package airlock "$BIN_DIR/airlock" \
  "signed, reproducible air-gap bundles for Kubernetes version hops" \
  "The connected side of airlock: resolves one Kubernetes version hop, fetches and pins every image, binary and node package, and writes one signed, compressed, reproducible bundle with a change report. Inside the air gap, airlock-verify checks and installs it."
package airlock-verify "${VERIFIER:-$BIN_DIR/airlock-verify}" \
  "verify and install airlock bundles inside an air gap" \
  "The enclave side of airlock: checks a bundle's signatures against a trust policy and every byte against the signed manifest, then installs images into the enclave registry and files to disk, serves, exports or publishes them. It never needs the network outside."
