#!/usr/bin/env bash
# Reproducible benchmark of airlock against the reference tool pipelines.
#
#   bash bench/run.sh                          # the 1.1 GiB hop, 5 interleaved pairs
#   IMAGES=16 PAIRS=1 LEAN=1 bash bench/run.sh # ~2 GiB scale run (32: ~4 GiB)
#   MODE=many PAIRS=1 LEAN=1 bash bench/run.sh # 2,000 images, 20,000 blobs
#
# Everything runs locally on loopback: two `docker-registry serve` instances
# ("upstream" and "enclave"), deterministic generated images (examples/gen_hop.rs,
# which reuses tests/common/images.rs), skopeo, tar, zstd and openssl. No network.
#
# Every measurement is a PAIR run back to back, airlock first, then the reference
# (A B A B ...), so that load from other processes hits both alike; the report gives
# the median wall and CPU time of each side and the median of the per-pair ratios.
#
# Environment knobs:
#   PAIRS=5           interleaved airlock/reference pairs per step
#   MODE=hop          hop: IMAGES images x linux/amd64+arm64, layers of 32 (shared),
#                     BIG_LAYER_MIB, 16, 4 MiB (gzip) and 1 MiB (plain); 8 images ~ 1.1 GiB
#                     many: IMAGES images x linux/amd64, LAYERS gzip layers of LAYER_KIB each
#   IMAGES            8 (hop) or 2000 (many)
#   BIG_LAYER_MIB=44  hop mode: size of the largest per-image layer
#   LAYERS=9 LAYER_KIB=16  many mode: layers per image and their size (9 + config = 10 blobs)
#   WARM=1            also time a warm, offline rebuild per pair (and check it is byte-identical)
#   LEAN=0            1: drop the build cache and the reference tar.zst as soon as they are
#                     measured (disk: the 4 GiB hop then needs ~4.5x its size, not ~6x)
#   REF=1             0: airlock only, no reference runs (for scale runs where skopeo's
#                     per-image cost would take most of the time)
#   EXTRA=0           1: also the older memory figures (a small hop; bundles of one plain file)
#   PAUSE_FUZZ=1      SIGSTOP running afl-fuzz processes while measuring (SIGCONT on exit)
#   CARGO_TARGET_DIR  where the release binaries are (built here if stale)
#   BENCH_TMP=/tmp    where the scratch directory goes
#   KEEP=1            keep the scratch directory (and print its path)
#   RESULTS=FILE      also write the markdown report to FILE
#   RAW=FILE          also write the raw runs (TSV) to FILE
#
# Every measured command runs under `/usr/bin/time -v` (wall time, user+sys CPU,
# max RSS). For shell pipelines, max RSS is that of the largest single process.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PAIRS=${PAIRS:-5}
MODE=${MODE:-hop}
case "$MODE" in
hop) IMAGES=${IMAGES:-8} ;;
many) IMAGES=${IMAGES:-2000} ;;
*) echo "MODE must be hop or many, not $MODE" >&2; exit 2 ;;
esac
BIG_LAYER_MIB=${BIG_LAYER_MIB:-44}
LAYERS=${LAYERS:-9}
LAYER_KIB=${LAYER_KIB:-16}
WARM=${WARM:-1}
LEAN=${LEAN:-0}
EXTRA=${EXTRA:-0}
REF=${REF:-1}
PAUSE_FUZZ=${PAUSE_FUZZ:-1}
SMALL_IMAGES=4 # EXTRA small hop: the first 4 images, linux/amd64 only (~290 MiB)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RESULTS=${RESULTS:-}
RAW=${RAW:-}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need_tools docker-registry skopeo zstd openssl tar curl python3 /usr/bin/time
scratch airlock-bench
declare -A REG_PID=()
FUZZ_PAUSED=0

# Other engineers' fuzzers run at nice 19 but still take cycles from the measured
# processes; stop them while measuring and always let them go on afterwards.
pause_fuzz() {
    if [[ "$PAUSE_FUZZ" == 1 ]] && pgrep -x afl-fuzz >/dev/null; then
        pkill -STOP -x afl-fuzz || true
        FUZZ_PAUSED=1
    fi
}
resume_fuzz() {
    if [[ "$FUZZ_PAUSED" == 1 ]]; then
        pkill -CONT -x afl-fuzz || true
        FUZZ_PAUSED=0
    fi
}

# Called by lib.sh's clean-up, before it stops the registries.
on_cleanup() { resume_fuzz; }

# ---------------------------------------------------------------------------
# Binaries
# ---------------------------------------------------------------------------
build_release
SKOPEO=(skopeo --insecure-policy)

# ---------------------------------------------------------------------------
# Registries
# ---------------------------------------------------------------------------
# registry_up NAME [PORT]: fresh storage under $WORK/reg-NAME; sets HOST_<NAME>.
registry_up() {
    local name=$1
    stop_registry "$name"
    start_registry "$WORK/reg-$name" "${2:-}"
    REG_PID[$name]=$REGISTRY_PID
    printf -v "HOST_${name^^}" '%s' "$REGISTRY_HOST"
}

stop_registry() {
    local name=$1
    if [[ -n "${REG_PID[$name]:-}" ]]; then
        stop_pid "${REG_PID[$name]}"
        unset "REG_PID[$name]"
    fi
}

# ---------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------
RESULTS_TSV=$WORK/results.tsv
: >"$RESULTS_TSV"

CLK_TCK=$(getconf CLK_TCK)
# CPU seconds used so far by the running registries (they do half the work of a push).
registry_cpu() {
    local pid total=0
    for pid in "${REG_PID[@]}"; do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# measure LABEL PAIR CMD...: one timed run; appends
# "LABEL PAIR wall_s cpu_s maxrss_kib registry_cpu_s load1_before" to the TSV.
measure() {
    local label=$1 pair=$2
    shift 2
    sync
    local tf=$WORK/time.txt load reg0 reg1
    load=$(cut -d' ' -f1 /proc/loadavg)
    reg0=$(registry_cpu)
    if ! /usr/bin/time -v -o "$tf" "$@" >"$WORK/last.out" 2>"$WORK/last.err"; then
        echo "FAILED: $label: $*" >&2
        cat "$WORK/last.err" >&2
        exit 1
    fi
    local wall cpu rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$tf")
    cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.2f", u + s}' "$tf")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tf")
    reg1=$(registry_cpu)
    local regcpu
    regcpu=$(awk -v a="$reg0" -v b="$reg1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$pair" "$wall" "$cpu" "$rss" "$regcpu" "$load" >>"$RESULTS_TSV"
    log "$(printf '%-26s #%s %7.2f s wall %7.2f s cpu %6.1f MiB max RSS %6.2f s registry cpu (load %s)' \
        "$label" "$pair" "$wall" "$cpu" "$(awk -v r="$rss" 'BEGIN {print r / 1024}')" "$regcpu" "$load")"
}

# ---------------------------------------------------------------------------
# 1. Data: images in the upstream registry, lock files, key
# ---------------------------------------------------------------------------
registry_up upstream
UP=$HOST_UPSTREAM
log "upstream registry on $UP"

if [[ "$MODE" == many ]]; then
    log "generating $IMAGES images (linux/amd64, $LAYERS gzip layers of $LAYER_KIB KiB each)"
    "$GEN" --many "$WORK/gen" "$IMAGES" "$LAYERS" "$LAYER_KIB" >"$WORK/images.txt"
    PLATFORMS="linux/amd64"
else
    log "generating $IMAGES images (linux/amd64 + linux/arm64, gzip layers of random data)"
    "$GEN" "$WORK/gen" "$IMAGES" "$BIG_LAYER_MIB" >"$WORK/images.txt"
    PLATFORMS="linux/amd64, linux/arm64"
fi
GEN_BYTES=$(du -sb "$WORK/gen" | cut -f1)

log "pushing to upstream with skopeo (two streams)"
PUSHERS=()
for part in part-0 part-1; do
    (
        while read -r p repo tag _; do
            [[ "$p" == "$part" ]] || continue
            "${SKOPEO[@]}" copy --quiet --all --preserve-digests --dest-tls-verify=false \
                "oci:$WORK/gen/$p:$repo:$tag" "docker://$UP/$repo:$tag"
        done <"$WORK/images.txt"
    ) &
    PUSHERS+=($!)
done
for pid in "${PUSHERS[@]}"; do wait "$pid"; done # not bare `wait`: the registry is a job too
rm -rf "$WORK/gen"

write_lock() { # write_lock FILE COUNT PLATFORMS
    local file=$1 count=$2 platforms=$3
    {
        echo "format: 1"
        echo "kind: airlock-lock"
        echo "hop: { from: v1.29.6, to: v1.30.2 }"
        echo "images:"
        head -n "$count" "$WORK/images.txt" | while read -r _ repo tag digest; do
            echo "  - name: registry.k8s.io/$repo:$tag"
            echo "    digest: $digest"
            echo "    platforms: [$platforms]"
        done
    } >"$file"
}
write_lock "$WORK/big.lock" "$IMAGES" "$PLATFORMS"
write_lock "$WORK/small.lock" "$SMALL_IMAGES" "linux/amd64"
"$AIRLOCK" keygen --no-passphrase --out "$WORK/keys/release" >/dev/null
KEY=$WORK/keys/release

NET=(--insecure-registry "$UP" --mirror "registry.k8s.io=$UP")
CACHE=$WORK/cache
DEAD=127.0.0.1:$(free_port) # a closed port: the warm rebuild must not need the network

# airlock build LOCK --out OUT ... (a command line for `measure`, not a function:
# /usr/bin/time runs programs, not shell functions)
BUILD=(env "AIRLOCK_CACHE=$CACHE" "$AIRLOCK" build --key "$KEY.key" --quiet)

REF_OCI=$WORK/ref-oci
reference_build() {
    rm -rf "$REF_OCI" "$WORK/ref.tar.zst"
    local _p repo tag _d
    while read -r _p repo tag _d; do
        skopeo --insecure-policy copy --quiet --all --preserve-digests --src-tls-verify=false \
            "docker://$UP/$repo:$tag" "oci:$REF_OCI:$repo:$tag"
    done <"$WORK/images.txt"
    tar -C "$REF_OCI" -cf - . | zstd -q -T0 -3 -o "$WORK/ref.tar.zst"
}
export -f reference_build
export WORK UP REF_OCI

pause_fuzz

# ---------------------------------------------------------------------------
# 2a. BUILD: cold airlock build, reference; (warm offline rebuild)
# ---------------------------------------------------------------------------
log "BUILD: $PAIRS pairs of airlock build (cold cache) / skopeo copy --all + tar | zstd -T0 -3"
REPRO="not checked (WARM=0)"
REF_PAY=0
for p in $(seq "$PAIRS"); do
    rm -rf "$CACHE" "$WORK/bundle"
    measure build.airlock.cold "$p" "${BUILD[@]}" "$WORK/big.lock" --out "$WORK/bundle" "${NET[@]}"
    # Without warm rebuilds the cache is not needed again: make room for the reference.
    if [[ "$LEAN" == 1 && "$WARM" != 1 ]]; then rm -rf "$CACHE"; fi
    if [[ "$REF" == 1 ]]; then
        measure build.reference "$p" bash -c reference_build
        REF_PAY=$(stat -c %s "$WORK/ref.tar.zst")
    fi
    if [[ "$LEAN" == 1 ]]; then rm -f "$WORK/ref.tar.zst"; fi
    if [[ "$WARM" == 1 ]]; then
        rm -rf "$WORK/bundle-warm"
        measure build.airlock.warm "$p" "${BUILD[@]}" "$WORK/big.lock" --out "$WORK/bundle-warm" \
            --insecure-registry "$DEAD" --mirror "registry.k8s.io=$DEAD"
        if cmp -s "$WORK/bundle/manifest.json" "$WORK/bundle-warm/manifest.json" &&
            cmp -s "$WORK/bundle/payload.tar.zst" "$WORK/bundle-warm/payload.tar.zst"; then
            [[ "$REPRO" == DIFFERENT ]] || REPRO="byte-identical"
        else
            REPRO="DIFFERENT"
        fi
        rm -rf "$WORK/bundle-warm"
    fi
done
if [[ "$LEAN" == 1 ]]; then rm -rf "$CACHE"; fi

# ---------------------------------------------------------------------------
# 2b. VERIFY
# ---------------------------------------------------------------------------
log "VERIFY: $PAIRS pairs of airlock-verify verify / zstd -dc | openssl dgst -sha256"
for p in $(seq "$PAIRS"); do
    measure verify.airlock "$p" "$VERIFY" verify "$WORK/bundle" --trust "$KEY.pub" --quiet
    if [[ "$REF" == 1 ]]; then
        measure verify.reference "$p" bash -c "zstd -dc '$WORK/bundle/payload.tar.zst' | openssl dgst -sha256"
    fi
done
if [[ "$REF" == 1 ]]; then
    measure verify.sha256sum 1 bash -c "zstd -dc '$WORK/bundle/payload.tar.zst' | sha256sum"
fi

# ---------------------------------------------------------------------------
# 2c. INSTALL (fresh, empty enclave registry for every first install)
# ---------------------------------------------------------------------------
ENC_PORT=$(free_port)
INSTALL=("$VERIFY" install --trust "$KEY.pub" --registry "127.0.0.1:$ENC_PORT" --insecure --quiet)
reference_install() {
    local _p repo tag _d
    while read -r _p repo tag _d; do
        skopeo --insecure-policy copy --quiet --all --preserve-digests --dest-tls-verify=false \
            "oci:$REF_OCI:$repo:$tag" "docker://$HOST_ENCLAVE/$repo:$tag"
    done <"$WORK/images.txt"
}
export -f reference_install
export HOST_ENCLAVE=127.0.0.1:$ENC_PORT

# Does the enclave serve every image under its upstream index digest? One process,
# one request per image (skopeo inspect per image would take minutes at 2,000 images).
check_enclave() {
    python3 - "$HOST_ENCLAVE" "$WORK/images.txt" <<'PY'
import hashlib, sys, urllib.request
host, listing = sys.argv[1], sys.argv[2]
accept = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
bad = []
for line in open(listing):
    _, repo, tag, digest = line.split()
    req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": accept})
    try:
        body = urllib.request.urlopen(req).read()
        got = "sha256:" + hashlib.sha256(body).hexdigest()
    except Exception as e:
        got = f"error {e}"
    if got != digest:
        bad.append(f"{repo}:{tag} served {got}")
print("yes" if not bad else f"NO ({len(bad)} images, e.g. {bad[0]})")
PY
}

log "INSTALL: $PAIRS pairs of airlock-verify install (then again) / skopeo copy --all from the OCI dir"
INSTALL_OK="not checked"
for p in $(seq "$PAIRS"); do
    registry_up enclave "$ENC_PORT"
    rm -rf "$WORK/dest"
    measure install.airlock "$p" "${INSTALL[@]}" "$WORK/bundle" --dest "$WORK/dest"
    measure install.airlock.again "$p" "${INSTALL[@]}" "$WORK/bundle" --dest "$WORK/dest"
    if [[ "$p" == 1 ]]; then
        INSTALL_OK=$(check_enclave)
        log "enclave serves every image under its upstream digest: $INSTALL_OK"
    fi
    if [[ "$REF" == 1 ]]; then
        registry_up enclave "$ENC_PORT"
        measure install.reference "$p" bash -c reference_install
    fi
done
stop_registry enclave
rm -rf "$WORK/reg-enclave"

# ---------------------------------------------------------------------------
# 2d. (EXTRA=1) Memory: the same steps on a smaller hop; bundles of one plain file
# ---------------------------------------------------------------------------
files_lock() { # files_lock MIB -> writes $WORK/files-MIB.lock and its file
    local mib=$1 f=$WORK/file-$1.bin
    # Deterministic incompressible bytes: AES-CTR keystream.
    head -c $((mib * 1048576)) /dev/zero |
        openssl enc -aes-128-ctr -nosalt -K 00000000000000000000000000000000 \
            -iv 00000000000000000000000000000000 >"$f"
    cat >"$WORK/files-$mib.lock" <<EOF
format: 1
kind: airlock-lock
files:
  - name: blob-$mib
    path: file-$mib.bin
    sha256: $(openssl dgst -sha256 -r "$f" | cut -d' ' -f1)
    target: bin/blob-$mib
    mode: "0755"
    kind: binary
EOF
}

if [[ "$EXTRA" == 1 ]]; then
    log "MEMORY: small hop ($SMALL_IMAGES images, linux/amd64 only)"
    for r in $(seq "$PAIRS"); do
        rm -rf "$CACHE" "$WORK/bundle-small"
        measure small.build.airlock.cold "$r" "${BUILD[@]}" "$WORK/small.lock" --out "$WORK/bundle-small" "${NET[@]}"
        measure small.verify.airlock "$r" "$VERIFY" verify "$WORK/bundle-small" --trust "$KEY.pub" --quiet
        registry_up enclave "$ENC_PORT"
        rm -rf "$WORK/dest-small"
        measure small.install.airlock "$r" "${INSTALL[@]}" "$WORK/bundle-small" --dest "$WORK/dest-small"
    done
    stop_registry enclave

    # Files (kubeadm/kubelet-like binaries) are not precompressed, so they go through the
    # level-3 multi-threaded zstd frame, whose input buffer grows with --threads. Measure a
    # warm rebuild (pack only) of a lock holding one plain file of 16 or 256 MiB.
    log "MEMORY: bundles of plain files (warm cache, pack only)"
    for mib in 16 256; do
        files_lock "$mib"
        rm -rf "$CACHE" "$WORK/bundle-files"
        "${BUILD[@]}" "$WORK/files-$mib.lock" --out "$WORK/bundle-files" >/dev/null # fill the cache
        for th in "" 8; do
            for r in $(seq "$PAIRS"); do
                rm -rf "$WORK/bundle-files"
                measure "files$mib.build.airlock${th:+.threads$th}" "$r" "${BUILD[@]}" "$WORK/files-$mib.lock" \
                    --out "$WORK/bundle-files" ${th:+--threads "$th"}
            done
        done
        for r in $(seq "$PAIRS"); do
            measure "files$mib.verify.airlock" "$r" "$VERIFY" verify "$WORK/bundle-files" --trust "$KEY.pub" --quiet
        done
    done
fi
resume_fuzz

# ---------------------------------------------------------------------------
# 3. Report
# ---------------------------------------------------------------------------
if [[ "$MODE" == many ]]; then
    DESC="$IMAGES images x linux/amd64, $LAYERS gzip layers of $LAYER_KIB KiB each"
else
    DESC="$IMAGES images x 2 platforms (largest layer $BIG_LAYER_MIB MiB)"
fi
python3 - "$RESULTS_TSV" "$WORK/bundle" "$REF_PAY" "$GEN_BYTES" "$DESC" "$PAIRS" "$REPRO" "$INSTALL_OK" \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$EXTRA" <<'PY' >"$WORK/report.md"
import json, os, statistics, sys
tsv, bundle, ref_pay, gen_bytes, desc, pairs, repro, install_ok, commit, extra = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(tsv) if l.strip()]
runs = {}
for label, pair, wall, cpu, rss, reg, load in rows:
    runs.setdefault(label, {})[int(pair)] = dict(wall=float(wall), cpu=float(cpu), rss=int(rss) / 1024,
                                                 reg=float(reg), load=float(load))
m = json.load(open(os.path.join(bundle, "manifest.json")))
tar_size = m["payload"]["tar_size"]
pay = os.path.getsize(os.path.join(bundle, "payload.tar.zst"))
entries = len(m["entries"])
MiB = 1048576
def med(label, key):
    return statistics.median(r[key] for r in runs[label].values())
def peak(label):
    return max(r["rss"] for r in runs[label].values())
def pair_ratio(a, b, key):
    common = sorted(set(runs[a]) & set(runs[b]))
    return statistics.median(runs[a][p][key] / runs[b][p][key] for p in common), len(common)
loads = [r["load"] for l in runs.values() for r in l.values()]
print(f"Hop: {desc}; payload tar {tar_size / MiB:.0f} MiB in {entries} entries, airlock payload "
      f"{pay / MiB:.0f} MiB, reference tar.zst {int(ref_pay) / MiB:.0f} MiB, generated OCI layout "
      f"{int(gen_bytes) / MiB:.0f} MiB. Commit {commit}. {pairs} interleaved pairs per step "
      f"(airlock, reference, airlock, reference, ...); 1-minute load before the runs "
      f"{min(loads):.2f}-{max(loads):.2f}.")
print()
print("| Step | airlock wall s | reference wall s | wall ratio (median of pairs) | CPU s airlock / ref | CPU ratio (median of pairs) | max RSS MiB airlock / ref | target |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
def row(step, a, b, target=None, info=""):
    if a not in runs or b not in runs:
        return
    wr, n = pair_ratio(a, b, "wall")
    cr, _ = pair_ratio(a, b, "cpu")
    verdict = info
    if target is not None:
        verdict = f"<= {target:.2f}x: " + ("**met**" if wr <= target else "**missed**")
    print(f"| {step} | {med(a, 'wall'):.2f} | {med(b, 'wall'):.2f} | {wr:.2f} ({n}) | "
          f"{med(a, 'cpu'):.2f} / {med(b, 'cpu'):.2f} | {cr:.2f} | {peak(a):.1f} / {peak(b):.1f} | {verdict} |")
row("build, cold cache", "build.airlock.cold", "build.reference", 0.35)
row("build, warm cache (offline)", "build.airlock.warm", "build.reference", info=f"(info; bundle {repro} to the cold build)")
row("verify", "verify.airlock", "verify.reference", 0.55)
row("verify (ref. with sha256sum)", "verify.airlock", "verify.sha256sum", info="(info; one sha256sum run)")
row("install, empty registry", "install.airlock", "install.reference", 0.70)
row("re-install / first install", "install.airlock.again", "install.airlock", 0.05)
row("re-install / reference install", "install.airlock.again", "install.reference", info=f"(info; digests as upstream: {install_ok})")
print()
# One line per run size, for the scale table (time per GiB, per 1,000 entries).
gib = tar_size / (1 << 30)
print("Scale line (size, entries, then median wall s / peak RSS MiB of airlock and reference):")
print()
print("```")
cells = [f"{tar_size / MiB:.0f}MiB", f"{entries}entries"]
for a, b in [("build.airlock.cold", "build.reference"), ("verify.airlock", "verify.reference"),
             ("install.airlock", "install.reference"), ("install.airlock.again", None)]:
    cells.append(f"{a}={med(a, 'wall'):.2f}s/{peak(a):.1f}MiB")
    if b and b in runs:
        cells.append(f"{b}={med(b, 'wall'):.2f}s/{peak(b):.1f}MiB")
print(" ".join(cells))
print(f"airlock s per GiB: build {med('build.airlock.cold', 'wall') / gib:.2f}, verify "
      f"{med('verify.airlock', 'wall') / gib:.2f}, install {med('install.airlock', 'wall') / gib:.2f}; "
      f"per 1,000 entries: build {med('build.airlock.cold', 'wall') / entries * 1000:.2f}, verify "
      f"{med('verify.airlock', 'wall') / entries * 1000:.2f}, install {med('install.airlock', 'wall') / entries * 1000:.2f}, "
      f"re-install {med('install.airlock.again', 'wall') / entries * 1000:.2f}")
print("```")
if extra == "1":
    print()
    print("Memory (EXTRA=1), peak max RSS MiB:")
    print()
    for label in sorted(l for l in runs if l.startswith(("small.", "files"))):
        print(f"- {label}: {peak(label):.1f} (median wall {med(label, 'wall'):.2f} s)")
print()
print("All runs, in the order they ran:")
print()
print("```")
print(f"{'label':<28} {'pair':>4} {'wall_s':>8} {'cpu_s':>8} {'max_rss_MiB':>11} {'registry_cpu_s':>14} {'load1_before':>12}")
for label, pair, wall, cpu, rss, reg, load in rows:
    print(f"{label:<28} {pair:>4} {float(wall):>8.2f} {float(cpu):>8.2f} {int(rss) / 1024:>11.1f} {float(reg):>14.2f} {float(load):>12.2f}")
print("```")
PY
echo >>"$WORK/report.md"
echo "Total benchmark wall time: $(($(date +%s) - T0)) s." >>"$WORK/report.md"

cat "$WORK/report.md"
if [[ -n "$RESULTS" ]]; then
    cp "$WORK/report.md" "$RESULTS"
    log "report written to $RESULTS"
fi
if [[ -n "$RAW" ]]; then
    cp "$RESULTS_TSV" "$RAW"
    log "raw runs written to $RAW"
fi
