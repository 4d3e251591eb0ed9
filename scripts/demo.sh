#!/usr/bin/env bash
# End-to-end demo with no internet: a local "upstream" registry and file server seeded
# with a generated sample hop, then airlock keygen -> build -> airlock-verify verify ->
# install into a local "enclave" registry, checked with skopeo and minisign.
#
#   bash scripts/demo.sh        (as root, or with sudo available for apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need docker-registry || ! need skopeo || ! need minisign || ! need zstd \
   || ! need gpg-agent || ! need apt-ftparchive; then
  echo "== installing docker-registry skopeo minisign zstd gpg apt-utils (Debian packages)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    docker-registry skopeo minisign zstd python3 curl gpg gpg-agent apt-utils
fi

echo "== building airlock and airlock-verify (release; the first build takes several minutes,"
echo "   cargo shows each crate as it compiles)"
cargo build --release --locked --bins --example demo_upstream
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release

# The work folder stays for the reader; the servers stop on exit.
scratch airlock-demo keep

# The default hop: the newest patches of the two newest minors of the built-in catalog
# (today 1.36 -> 1.37), so the showcase is a supported hop and moves with the catalog.
if [ -z "${FROM:-}" ] || [ -z "${TO:-}" ]; then
  read -r DEF_FROM DEF_TO < <("$BIN/airlock" catalog status --json | python3 -c '
import json, sys
minors = json.load(sys.stdin)["minors"]
print(minors[-2]["latest_patch"], minors[-1]["latest_patch"])')
fi
FROM=${FROM:-$DEF_FROM}
TO=${TO:-$DEF_TO}
echo "== the hop: $FROM -> $TO (set FROM= and TO= for another hop of the catalog)"
echo "== generating a sample upstream for $FROM -> $TO (fake images and binaries, real names) in $WORK/upstream"
"$BIN/examples/demo_upstream" "$WORK/upstream" "$FROM" "$TO" > "$WORK/images.txt"
start_registry "$WORK/reg-upstream"; UP=$REGISTRY_HOST
start_registry "$WORK/reg-enclave"; ENCLAVE=$REGISTRY_HOST
FPORT=$(free_port)
python3 -m http.server "$FPORT" --bind 127.0.0.1 --directory "$WORK/upstream/www" >"$WORK/www.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$FPORT/" "$!" "$WORK/www.log"
while read -r ref; do
  skopeo --insecure-policy copy -q --all --preserve-digests --dest-tls-verify=false \
    "oci:$WORK/upstream/layout:$ref" "docker://$UP/$ref"
done < "$WORK/images.txt"
echo "   upstream registry $UP, file server http://127.0.0.1:$FPORT, enclave registry $ENCLAVE"

echo; echo "== airlock keygen: the release signing key pair (keys/release.key signs, .pub goes to the enclave)"
"$BIN/airlock" keygen --no-passphrase --out "$WORK/keys/release"

# Canonical names stay in the lock and bundle; bytes come through these mirrors.
NET=(--insecure-registry "$UP" --mirror "registry.k8s.io=$UP"
     --mirror "https://dl.k8s.io=http://127.0.0.1:$FPORT/dl.k8s.io"
     --mirror "https://github.com=http://127.0.0.1:$FPORT/github.com"
     --mirror "https://pkgs.k8s.io=http://127.0.0.1:$FPORT/pkgs.k8s.io")

echo; echo "== airlock catalog status: the minors the built-in catalog knows and their support windows"
"$BIN/airlock" catalog status

echo; echo "== airlock plan: the hops from an old cluster to $TO, one minor at a time"
"$BIN/airlock" plan --from v1.27.16 --to "$TO"

echo; echo "== airlock resolve --from $FROM --to $TO --packages deb (signed metadata checked with the repository key)"
# --no-provenance: the sample upstream's images and binaries are generated here and carry
# no Sigstore signatures, and the Sigstore-shaped test world (CA, Rekor-like log) lives in
# the test suite (tests/e2e/provenance*.rs), not in this script. Against the real
# registry.k8s.io, fetch a trusted root once (airlock provenance trusted-root --root
# ROOT.json) and leave the flag out: checking is the default. The lock notes the exception.
export AIRLOCK_CACHE=$WORK/cache
"$BIN/airlock" resolve --from "$FROM" --to "$TO" --platform linux/amd64,linux/arm64 \
  --packages deb --package-key "$WORK/upstream/pgp/Release.key" --no-provenance \
  --out "$WORK/hop.lock" "${NET[@]}"
grep -c 'digest: sha256' "$WORK/hop.lock" | sed 's/^/   images pinned: /'
grep -c 'kind: package$' "$WORK/hop.lock" | sed 's/^/   node packages pinned: /'

echo; echo "== airlock build: fetch everything the lock pins, check it, write the signed bundle"
"$BIN/airlock" build "$WORK/hop.lock" --key "$WORK/keys/release.key" --out "$WORK/bundle" "${NET[@]}"
ls -l "$WORK/bundle"

echo; echo "== independent checks: sha256sum and minisign"
(cd "$WORK/bundle" && sha256sum -c SHA256SUMS && minisign -V -p "$WORK/keys/release.pub" -m manifest.json -x signatures/*.minisig)

echo; echo "== airlock-verify verify: inside the air gap, check the signatures and every byte"
"$BIN/airlock-verify" verify "$WORK/bundle" --trust "$WORK/keys/release.pub"

echo; echo "== airlock-verify install (node packages to a partial mirror with --packages-dir)"
"$BIN/airlock-verify" install "$WORK/bundle" --trust "$WORK/keys/release.pub" \
  --registry "$ENCLAVE" --insecure --dest "$WORK/enclave-files" \
  --packages-dir "$WORK/enclave-packages" | tee "$WORK/install.txt"

echo; echo "== the enclave serves the upstream digests"
for ref in "kube-apiserver:$TO" "kube-proxy:$FROM"; do
  up=$(skopeo inspect --raw --tls-verify=false "docker://$UP/$ref" | sha256sum | cut -d' ' -f1)
  en=$(skopeo inspect --raw --tls-verify=false "docker://$ENCLAVE/$ref" | sha256sum | cut -d' ' -f1)
  echo "   $ref upstream sha256:$up enclave sha256:$en $([ "$up" = "$en" ] && echo OK || echo MISMATCH)"
  [ "$up" = "$en" ]
done
find "$WORK/enclave-files" -type f | sort

echo; echo "== apt-get on a node reads the mirror and checks upstream's signature itself"
# The sources line the install printed, with the demo key in place of the node's keyring;
# apt's own state, cache and configuration live in $WORK/apt (the machine's are untouched).
TOMINOR=$(echo "$TO" | cut -d. -f1-2 | tr -d v)
LINE=$(grep '^ *deb \[signed-by=' "$WORK/install.txt" | sed "s#^ *##; s#/etc/apt/keyrings/kubernetes-apt-keyring.gpg#$WORK/upstream/pgp/keyring.gpg#" | grep "/v$TOMINOR/deb/")
echo "   $LINE"
A=$WORK/apt; mkdir -p "$A"/{state/lists/partial,cache/archives/partial,etc/sources.list.d,etc/apt.conf.d,etc/preferences.d,etc/trusted.gpg.d,download}
echo "$LINE" > "$A/etc/sources.list"; : > "$A/state/status"
APT=(-o "Dir::State=$A/state" -o "Dir::State::status=$A/state/status" -o "Dir::Cache=$A/cache"
     -o "Dir::Etc=$A/etc" -o "Dir::Etc::SourceList=$A/etc/sources.list" -o "Dir::Etc::SourceParts=$A/etc/sources.list.d"
     -o "Dir::Etc::Parts=$A/etc/apt.conf.d" -o "Dir::Etc::PreferencesParts=$A/etc/preferences.d"
     -o "Dir::Etc::TrustedParts=$A/etc/trusted.gpg.d" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${APT[@]}" update
KVER="${TO#v}-1.1"
(cd "$A/download" && apt-get "${APT[@]}" download "kubeadm=$KVER")
ls -l "$A/download"

echo; echo "== second install is a no-op"
"$BIN/airlock-verify" install "$WORK/bundle" --trust "$WORK/keys/release.pub" \
  --registry "$ENCLAVE" --insecure --dest "$WORK/enclave-files" \
  --packages-dir "$WORK/enclave-packages" --json \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); print("   files installed:", sum(f["action"]=="installed" for f in r["files"]), "of", len(r["files"]), "; payload pass:", r["payload_pass"])'
echo; echo "Demo finished. Work directory: $WORK (registries stopped)."
