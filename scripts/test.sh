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
# chromium: renders the HTML change report headless. python3-venv: the CycloneDX
# project's own validator (cyclonedx-python-lib) checks the SBOM.
# containerd (with ctr): pulls through `airlock-verify serve` and imports exported archives.
# Node packages (tests/e2e/packages.rs): gpg and gpg-agent (repository keys and
# signatures), apt-utils (apt-ftparchive) and dpkg (dpkg-deb) for deb repositories, rpm
# (rpmbuild, rpmsign, rpmkeys) and createrepo-c for rpm ones; apt-get, and dnf with
# dnf-plugins-core (`dnf download`), read the installed mirrors back.
# etcd-server and etcd-client (tests/e2e/etcd.rs): a real three-member etcd restored from
# a snapshot with the runbook's per-member commands (bookworm ships 3.4: etcdctl restores).
# Packaging (tests/e2e/installable.rs): man-db (`man -l` renders the pages), binutils
# (readelf, objdump, objcopy in scripts/package.sh).
# Keys on tokens (tests/e2e/tokens.rs): softhsm2 (a PKCS#11 token with Ed25519) and opensc
# (pkcs11-tool reads the keys back independently).
# faketime (tests/e2e/timestamps.rs): the enclave's clock set apart from the TSA's.
PACKAGES=(docker-registry skopeo minisign zstd tar coreutils apache2-utils python3 python3-venv
          ca-certificates openssl chromium containerd
          gpg gpg-agent apt-utils dpkg rpm createrepo-c dnf dnf-plugins-core
          etcd-server etcd-client man-db binutils softhsm2 opensc faketime)
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

# The CycloneDX validator and the JSON Schema validator (draft 2020-12, for docs/schemas),
# in a virtualenv of its own (from PyPI). jsonschema is named, not left to come with the
# CycloneDX library, because the schema tests (tests/e2e/evidence.rs) call it directly.
# The Sigstore project's own client (`bin/sigstore` beside the python) is the independent
# check of airlock-provenance's bundles; >= 4.0 reads a ClientTrustConfig (docs/design/provenance.md §5).
VENV=target/test-venv
if ! "$VENV/bin/python" -c 'import cyclonedx.validation.json, jsonschema, referencing, sigstore, sys; from importlib.metadata import version; sys.exit(version("sigstore") != "4.5.1")' 2>/dev/null; then
  echo "== installing cyclonedx-python-lib[json-validation], jsonschema and sigstore into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'cyclonedx-python-lib[json-validation]==11.*' 'jsonschema==4.*' 'sigstore==4.5.1'
fi
export AIRLOCK_TEST_PYTHON=$PWD/$VENV/bin/python

[ "${1:-}" = "--" ] && shift
# Every member, the fuzz targets (fuzz/) among them: their tests feed every target its seeds
# and mutations of them.
cargo test --workspace --locked "$@"
