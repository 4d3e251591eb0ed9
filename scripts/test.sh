#!/usr/bin/env bash
# The test command: installs the Debian packages the tests use (when missing), then runs
# every test of the workspace. `.ci/run` calls exactly this; so can a newcomer on a fresh
# machine (as root, or with sudo).
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -- NAME    # extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

# docker-registry: the CNCF distribution registry the tests start on loopback ports.
# skopeo, minisign, zstd, tar, coreutils (sha256sum): independent tools that check
# airlock's output. apache2-utils: htpasswd for the basic-auth registry. openssl: the test
# CA and the bearer-token server's signatures. python3: the file and token servers.
# Node packages (tests/e2e/packages.rs): gpg and gpg-agent (repository keys and
# signatures), apt-utils (apt-ftparchive) and dpkg (dpkg-deb) for deb repositories, rpm
# (rpmbuild, rpmsign, rpmkeys) and createrepo-c for rpm ones; apt-get, and dnf with
# dnf-plugins-core (`dnf download`), read the installed mirrors back.
PACKAGES=(docker-registry skopeo minisign zstd tar coreutils apache2-utils python3 ca-certificates openssl
          gpg gpg-agent apt-utils dpkg rpm createrepo-c dnf dnf-plugins-core)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (Debian packages)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ "${1:-}" = "--" ] && shift
cargo test --workspace --locked "$@"
