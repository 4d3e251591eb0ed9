#!/usr/bin/env bash
# `airlock-verify serve` against `docker-registry` serving the same images, side by side.
#
#   bash bench/serve.sh
#
# Everything runs on loopback, no network: a generated hop (examples/gen_hop.rs) is pushed
# to an "upstream" docker-registry, built into a bundle, and then
#   A: served by `airlock-verify serve BUNDLE` (verified blobs in its spool), and
#   B: installed into a fresh docker-registry with `airlock-verify install`,
# so both serve the very same manifests and blobs. Each run pulls every image, all
# platforms, with `skopeo copy --all` into an empty OCI layout; runs alternate A B A B so
# the machine's noise hits both alike. Reported: median wall time per side, throughput,
# CPU seconds the server process used, and the ratio.
#
# Environment knobs (defaults give the figures in BENCHMARKS.md):
#   REPS=5            runs per side (median reported)
#   IMAGES=4          images (each linux/amd64 + linux/arm64)
#   BIG_LAYER_MIB=20  size of the largest per-image layer
#   CARGO_TARGET_DIR  where the release binaries are (built here if stale)
#   BENCH_TMP=/tmp    where the scratch directory goes (needs ~3 GiB free)
#   KEEP=1            keep the scratch directory
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${REPS:-5}
IMAGES=${IMAGES:-4}
BIG_LAYER_MIB=${BIG_LAYER_MIB:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need_tools docker-registry skopeo curl python3 sha256sum
scratch airlock-bench-serve

build_release
SKOPEO=(skopeo --insecure-policy)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------
# Data: images upstream, a bundle, and the two servers
# ---------------------------------------------------------------------------
start_registry "$WORK/reg-upstream"
UP=$REGISTRY_HOST
log "generating $IMAGES images (linux/amd64 + linux/arm64)"
"$GEN" "$WORK/gen" "$IMAGES" "$BIG_LAYER_MIB" >"$WORK/images.txt"
push_generated "$WORK/gen" "$WORK/images.txt" "$UP"
rm -rf "$WORK/gen"
{
    echo "format: 1"
    echo "kind: airlock-lock"
    echo "hop: { from: v1.29.6, to: v1.30.2 }"
    echo "images:"
    while read -r _ repo tag digest; do
        echo "  - name: registry.k8s.io/$repo:$tag"
        echo "    digest: $digest"
        echo "    platforms: [linux/amd64, linux/arm64]"
    done <"$WORK/images.txt"
} >"$WORK/hop.lock"
"$AIRLOCK" keygen --out "$WORK/keys/release" >/dev/null
KEY=$WORK/keys/release
log "airlock build"
AIRLOCK_CACHE=$WORK/cache "$AIRLOCK" build "$WORK/hop.lock" --key "$KEY.key" --out "$WORK/bundle" \
    --quiet --insecure-registry "$UP" --mirror "registry.k8s.io=$UP" >/dev/null
TAR_MIB=$(python3 -c "import json; print(round(json.load(open('$WORK/bundle/manifest.json'))['payload']['tar_size'] / 1048576))")

start_registry "$WORK/reg-enclave"
REG=$REGISTRY_HOST REG_PID=$REGISTRY_PID
log "airlock-verify install into docker-registry $REG"
"$VERIFY" install "$WORK/bundle" --trust "$KEY.pub" --registry "$REG" --insecure --quiet \
    --dest "$WORK/dest" >/dev/null

log "airlock-verify serve"
mkfifo "$WORK/serve.out"
"$VERIFY" serve "$WORK/bundle" --trust "$KEY.pub" --listen 127.0.0.1:0 --json --quiet \
    --spool "$WORK" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SRV_PID=$!
PIDS+=($SRV_PID)
SPOOL_T0=$(date +%s.%N)
read -r START <"$WORK/serve.out"
SRV=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['listen'])" "$START")
STARTUP_S=$(python3 -c "print(round($(date +%s.%N) - $SPOOL_T0, 2))")
wait_http "http://$SRV/v2/" "$SRV_PID"
log "serve on $SRV (verify + spool took ${STARTUP_S}s)"

# ---------------------------------------------------------------------------
# Pulls, interleaved
# ---------------------------------------------------------------------------
pull_all() { # pull_all HOST DEST: every image, all platforms, into one OCI layout
    local _p repo tag _d
    rm -rf "$2"
    while read -r _p repo tag _d; do
        "${SKOPEO[@]}" copy --quiet --all --preserve-digests --src-tls-verify=false \
            "docker://$1/$repo:$tag" "oci:$2:$repo:$tag"
    done <"$WORK/images.txt"
}

check_digests() { # the pulled layout has every image under its upstream digest
    local _p repo tag digest got
    while read -r _p repo tag digest; do
        got=$(python3 -c "import json,sys; i=json.load(open(sys.argv[1]+'/index.json'));
print([m['digest'] for m in i['manifests'] if m['annotations']['org.opencontainers.image.ref.name']==sys.argv[2]][0])" "$1" "$repo:$tag")
        [[ "$got" == "$digest" ]] || { echo "digest mismatch for $repo:$tag: $got" >&2; exit 1; }
    done <"$WORK/images.txt"
}

: >"$WORK/results.tsv"
for r in $(seq "$REPS"); do
    for side in serve registry; do
        if [[ $side == serve ]]; then host=$SRV pid=$SRV_PID; else host=$REG pid=$REG_PID; fi
        sync
        c0=$(cpu_ticks "$pid")
        t0=$(date +%s.%N)
        pull_all "$host" "$WORK/pulled"
        t1=$(date +%s.%N)
        c1=$(cpu_ticks "$pid")
        check_digests "$WORK/pulled"
        wall=$(python3 -c "print(round($t1 - $t0, 3))")
        cpu=$(python3 -c "print(round(($c1 - $c0) / $CLK_TCK, 2))")
        printf '%s\t%s\t%s\n' "$side" "$wall" "$cpu" >>"$WORK/results.tsv"
        log "run $r $side: ${wall}s wall, ${cpu}s server CPU"
    done
done
PULLED_MIB=$(du -sm "$WORK/pulled/blobs" | cut -f1)

median() { # median SIDE COLUMN
    awk -F'\t' -v s="$1" -v c="$2" '$1 == s {print $c}' "$WORK/results.tsv" | sort -g |
        awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
SW=$(median serve 2); RW=$(median registry 2)
SC=$(median serve 3); RC=$(median registry 3)
RSS=$(awk '/VmHWM/ {print $2}' "/proc/$SRV_PID/status")

kill -TERM "$SRV_PID"
wait "$SRV_PID" || true
SPOOL_LEFT=$(find "$WORK" -maxdepth 1 -name 'airlock-spool-*' | wc -l)

cat <<EOF

## serve vs docker-registry (median of $REPS, interleaved)

Hop: $IMAGES images x 2 platforms, payload tar ${TAR_MIB} MiB; each run pulls ${PULLED_MIB} MiB of blobs
(skopeo copy --all of every image into an empty OCI layout). serve start-up (verify + spool):
${STARTUP_S} s. serve peak RSS: $((RSS / 1024)) MiB. Spool removed on SIGTERM: $([[ $SPOOL_LEFT == 0 ]] && echo yes || echo NO).

| server | wall s | MiB/s | server CPU s |
|---|---:|---:|---:|
| airlock-verify serve | $SW | $(python3 -c "print(round($PULLED_MIB / $SW))") | $SC |
| docker-registry | $RW | $(python3 -c "print(round($PULLED_MIB / $RW))") | $RC |

Ratio (serve / docker-registry), wall: $(python3 -c "print(round($SW / $RW, 2))")

Raw runs (side, wall s, server CPU s):
$(sed 's/^/    /' "$WORK/results.tsv")
EOF
