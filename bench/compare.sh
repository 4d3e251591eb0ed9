#!/usr/bin/env bash
# Two builds of airlock on one hop, interleaved: did a change (a refactoring, a new
# dependency) make build, verify or install slower? Where bench/run.sh sets airlock against
# the tools you would use without it, this sets airlock against itself.
#
#   BEFORE=DIR AFTER=DIR bash bench/compare.sh
#
# DIR holds `airlock` and `airlock-verify` (release builds, e.g. copied out of target/release
# at two commits); AFTER defaults to this checkout's target/release. The hop is
# examples/gen_hop's (from AFTER, or GEN=PATH): IMAGES images (default 8) for two platforms,
# about 1.1 GiB. Each step runs PAIRS (default 5) times as before/after pairs (B A B A ...);
# the report gives each side's median wall and CPU seconds, the median of the per-pair
# ratios after/before, and the peak max RSS. It also says whether the two builds wrote
# byte-identical payloads and manifests (they should when the change keeps the format and
# the report).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

BEFORE=${BEFORE:?BEFORE=DIR with the airlock and airlock-verify to compare against}
AFTER=${AFTER:-$ROOT/target/release}
GEN=${GEN:-$AFTER/examples/gen_hop}
IMAGES=${IMAGES:-8}
PAIRS=${PAIRS:-5}
need_tools docker-registry skopeo /usr/bin/time python3 curl
for f in "$BEFORE/airlock" "$BEFORE/airlock-verify" "$AFTER/airlock" "$AFTER/airlock-verify" "$GEN"; do
    [[ -x "$f" ]] || { echo "not an executable: $f" >&2; exit 1; }
done
scratch airlock-compare

TSV=$WORK/results.tsv
: >"$TSV"
# run SIDE STEP PAIR CMD...: one timed run, "SIDE STEP PAIR wall cpu maxrss_kib" into the TSV.
run() {
    local side=$1 step=$2 pair=$3
    shift 3
    sync
    /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/last.out" 2>"$WORK/last.err" ||
        { echo "FAILED: $side $step: $*" >&2; cat "$WORK/last.err" >&2; exit 1; }
    awk -F': ' -v s="$side" -v st="$step" -v p="$pair" '
        /Elapsed \(wall clock\)/ { n = split($2, t, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + t[i] }
        /User time/ { u = $2 } /System time/ { y = $2 } /Maximum resident set size/ { r = $2 }
        END { printf "%s\t%s\t%s\t%.2f\t%.2f\t%d\n", s, st, p, w, u + y, r }' "$WORK/time.txt" >>"$TSV"
    log "$(tail -n 1 "$TSV")"
}

start_registry "$WORK/upstream"
UP=$REGISTRY_HOST
log "generating $IMAGES images and pushing them to $UP"
"$GEN" "$WORK/gen" "$IMAGES" 44 >"$WORK/images.txt"
push_generated "$WORK/gen" "$WORK/images.txt" "$UP"
rm -rf "$WORK/gen"
{
    echo "format: 1"
    echo "kind: airlock-lock"
    echo "hop: { from: v1.29.6, to: v1.30.2 }"
    echo "images:"
    while read -r _ repo tag digest; do
        printf '  - name: registry.k8s.io/%s:%s\n    digest: %s\n    platforms: [linux/amd64, linux/arm64]\n' \
            "$repo" "$tag" "$digest"
    done <"$WORK/images.txt"
} >"$WORK/hop.lock"
"$AFTER/airlock" keygen --no-passphrase --out "$WORK/release" >/dev/null

ENC_PORT=$(free_port)
for p in $(seq "$PAIRS"); do
    for side in before after; do
        bin=$BEFORE
        [[ $side == after ]] && bin=$AFTER
        rm -rf "$WORK/cache" "$WORK/bundle-$side" "$WORK/dest"
        run "$side" build "$p" env "AIRLOCK_CACHE=$WORK/cache" "$bin/airlock" build --key "$WORK/release.key" \
            --quiet "$WORK/hop.lock" --out "$WORK/bundle-$side" --insecure-registry "$UP" --mirror "registry.k8s.io=$UP"
        rm -rf "$WORK/cache"
        run "$side" verify "$p" "$bin/airlock-verify" verify "$WORK/bundle-$side" --trust "$WORK/release.pub" --quiet
        start_registry "$WORK/enclave" "$ENC_PORT"
        run "$side" install "$p" "$bin/airlock-verify" install --trust "$WORK/release.pub" \
            --registry "127.0.0.1:$ENC_PORT" --insecure --quiet "$WORK/bundle-$side" --dest "$WORK/dest"
        stop_pid "$REGISTRY_PID"
    done
done

# The payload (images and files) and the manifest apart: a change to the report alone
# changes the manifest (it lists the report's sha256) but not the payload.
same() { if cmp -s "$WORK/bundle-before/$1" "$WORK/bundle-after/$1"; then echo identical; else echo different; fi; }
SAME="payload $(same payload.tar.zst), manifest $(same manifest.json)"
echo
echo "airlock before ($BEFORE) / after ($AFTER); $IMAGES images, $(du -sh "$WORK/bundle-after" | cut -f1) bundle, $PAIRS pairs"
echo "$(date -u +%F), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); bundles: $SAME"
python3 - "$TSV" <<'PY'
import statistics as st, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
print("| step | before wall s (median) | after wall s (median) | after/before wall (median of pairs) | before cpu s | after cpu s | peak RSS MiB before / after |")
print("|---|---|---|---|---|---|---|")
for step in ("build", "verify", "install"):
    side = {s: {r[2]: r for r in rows if r[0] == s and r[1] == step} for s in ("before", "after")}
    pairs = sorted(set(side["before"]) & set(side["after"]))
    med = lambda s, i: st.median(float(side[s][p][i]) for p in pairs)
    ratio = st.median(float(side["after"][p][3]) / float(side["before"][p][3]) for p in pairs)
    rss = lambda s: max(int(side[s][p][5]) for p in pairs) / 1024
    print(f"| {step} | {med('before', 3):.2f} | {med('after', 3):.2f} | {ratio:.3f} | "
          f"{med('before', 4):.2f} | {med('after', 4):.2f} | {rss('before'):.0f} / {rss('after'):.0f} |")
PY
