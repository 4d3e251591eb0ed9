#!/usr/bin/env bash
# Volumes, parity, repair and deltas (issue 11), side by side with a plain build.
#
#   bash bench/media.sh
#
# Everything runs on loopback: generated images (examples/gen_hop.rs) in a local
# docker-registry, built from a warm cache so the build measures packing, not fetching.
# Each comparison runs interleaved (A B A B ..., REPS pairs) under /usr/bin/time, so load
# on this noisy machine hits both sides alike; the report gives median wall and CPU
# (user+sys) time, median peak RSS, and the median of the per-pair ratios. Measured:
#   - build with --volume-size V --parity P against a plain build of the same lock, and
#     with --volume-size alone (splitting only);
#   - verify of the volume bundle against verify of the plain bundle;
#   - repair of one deleted volume;
#   - the size of a delta (hop 2 --since hop 1) against the bytes hop 2 adds.
#
# Environment knobs:
#   REPS=5            runs per side
#   IMAGES=4          images per hop (hop 2 drops image 0 and adds image IMAGES)
#   BIG_LAYER_MIB=20  the largest per-image layer
#   VOLUME=64MiB      --volume-size
#   PARITY=2          --parity
#   BENCH_TMP=/tmp    scratch (needs ~3 GiB free); KEEP=1 keeps it
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${REPS:-5}
IMAGES=${IMAGES:-4}
BIG_LAYER_MIB=${BIG_LAYER_MIB:-20}
VOLUME=${VOLUME:-64MiB}
PARITY=${PARITY:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need_tools docker-registry skopeo curl python3 /usr/bin/time
scratch airlock-bench-media

build_release
export AIRLOCK_CACHE=$WORK/cache

start_registry "$WORK/reg"
UP=$REGISTRY_HOST

log "generating $((IMAGES + 1)) images"
"$GEN" "$WORK/gen" "$((IMAGES + 1))" "$BIG_LAYER_MIB" >"$WORK/images.txt"
push_generated "$WORK/gen" "$WORK/images.txt" "$UP"
rm -rf "$WORK/gen"

lock() { # lock FILE FROM TO FIRST LAST
    {
        echo "format: 1"
        echo "kind: airlock-lock"
        echo "hop: { from: $2, to: $3 }"
        echo "images:"
        sed -n "$(($4 + 1)),$(($5 + 1))p" "$WORK/images.txt" | while read -r _ repo tag digest; do
            echo "  - name: registry.k8s.io/$repo:$tag"
            echo "    digest: $digest"
            echo "    platforms: [linux/amd64, linux/arm64]"
        done
    } >"$1"
}
lock "$WORK/hop1.lock" v1.30.2 v1.30.3 0 $((IMAGES - 1))
lock "$WORK/hop2.lock" v1.30.3 v1.30.4 1 "$IMAGES"
"$AIRLOCK" keygen --no-passphrase --out "$WORK/release" >/dev/null
NET="--insecure-registry $UP --mirror registry.k8s.io=$UP"
B="$AIRLOCK build --key $WORK/release.key --quiet --force $NET"
log "warming the cache (both hops)"
$B "$WORK/hop1.lock" --out "$WORK/plain"
$B "$WORK/hop2.lock" --out "$WORK/hop2-full"
PAYLOAD=$(stat -c %s "$WORK/plain/payload.tar.zst")

measure() { # measure TITLE SIDE SHELL-COMMAND: one timed run, appended to runs.tsv
    sync
    if ! /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" sh -c "$3" >"$WORK/out" 2>&1; then
        echo "failed ($1, $2): $3" >&2
        cat "$WORK/out" "$WORK/time" >&2
        exit 1
    fi
    printf '%s\t%s\t%s\n' "$1" "$2" "$(cat "$WORK/time")" >>"$WORK/runs.tsv"
}
run() { # run TITLE COMMAND_A [COMMAND_B]: REPS runs of A, interleaved with B's
    log "$1"
    local i
    for i in $(seq 1 "$REPS"); do
        measure "$1" A "$2"
        [[ -z "${3:-}" ]] || measure "$1" B "$3"
    done
}
: >"$WORK/runs.tsv"
run "build: --volume-size $VOLUME --parity $PARITY (A) vs plain (B)" \
    "exec $B $WORK/hop1.lock --out $WORK/vols --volume-size $VOLUME --parity $PARITY" \
    "exec $B $WORK/hop1.lock --out $WORK/plain"
run "build: --volume-size $VOLUME (A) vs plain (B)" \
    "exec $B $WORK/hop1.lock --out $WORK/split --volume-size $VOLUME" \
    "exec $B $WORK/hop1.lock --out $WORK/plain"
V="$VERIFY verify --trust $WORK/release.pub --quiet"
run "verify: volumes + parity (A) vs plain (B)" "exec $V $WORK/vols" "exec $V $WORK/plain"
run "repair: one lost volume (payload.tar.zst.002)" \
    "rm -f $WORK/vols/payload.tar.zst.002 && exec $VERIFY repair $WORK/vols --trust $WORK/release.pub --quiet"
$V "$WORK/vols"
python3 - "$WORK/runs.tsv" >"$WORK/report.md" <<'PY'
import statistics as st, sys
runs = {}
for line in open(sys.argv[1]):
    title, side, t = line.rstrip("\n").split("\t")
    wall, user, sys_, rss = t.split()
    runs.setdefault(title, {}).setdefault(side, []).append(
        (float(wall), float(user) + float(sys_), int(rss) / 1024))
print("| measurement | A wall s | B wall s | A/B wall (median of pairs) | A / B CPU s | A / B peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|")
for title, sides in runs.items():
    a, b = sides["A"], sides.get("B", [])
    med = lambda xs, i: st.median(x[i] for x in xs)
    if b:
        ratio = st.median(x[0] / y[0] for x, y in zip(a, b))
        print(f"| {title} | {med(a,0):.2f} | {med(b,0):.2f} | {ratio:.2f} | {med(a,1):.2f} / {med(b,1):.2f} | {med(a,2):.1f} / {med(b,2):.1f} |")
    else:
        print(f"| {title} | {med(a,0):.2f} | | | {med(a,1):.2f} | {med(a,2):.1f} |")
print()
print("Raw runs (title, side, wall s, user s, sys s, max RSS KiB), in the order they ran:")
print()
print("```")
print(open(sys.argv[1]).read().rstrip())
print("```")
PY

log "delta: hop 2 --since hop 1"
$B "$WORK/hop2.lock" --out "$WORK/hop2-delta" --since "$WORK/plain"
DELTA=$(stat -c %s "$WORK/hop2-delta/payload.tar.zst")
FULL=$(stat -c %s "$WORK/hop2-full/payload.tar.zst")
# The bytes hop 2 adds: every payload entry of the full hop-2 bundle that hop 1 does not
# carry (by path), content bytes only (no tar headers, no compression).
CHANGED=$(python3 - "$WORK/plain/manifest.json" "$WORK/hop2-full/manifest.json" <<'PY'
import json, sys
a = {e["path"] for e in json.load(open(sys.argv[1]))["entries"]}
print(sum(e["size"] for e in json.load(open(sys.argv[2]))["entries"] if e["path"] not in a and e["path"] not in ("oci-layout", "index.json")))
PY
)
{
    echo "### sizes"
    echo "- plain hop-1 payload: $PAYLOAD bytes; volumes: $(ls "$WORK/vols" | grep -c 'payload.tar.zst.0') data + $(ls "$WORK/vols" | grep -c 'payload.parity') parity"
    echo "- hop 2 full payload: $FULL bytes; delta payload: $DELTA bytes ($(python3 -c "print(f'{$DELTA/$FULL:.1%}')") of full)"
    echo "- bytes hop 2 adds (new blobs and files, content only): $CHANGED; delta is $(python3 -c "print(f'{($DELTA-$CHANGED)/$CHANGED:+.2%}')") above"
} | tee -a "$WORK/report.md" >&2
cp "$WORK/report.md" "${RESULTS:-/dev/null}" 2>/dev/null || true
cat "$WORK/report.md"
