#!/usr/bin/env bash
# Reproducible benchmark of airlock against the reference tool pipelines.
#
#   bash bench/run.sh
#
# Everything runs locally on loopback: two `docker-registry serve` instances
# ("upstream" and "enclave"), deterministic generated images (examples/gen_hop.rs,
# which reuses tests/common/images.rs), skopeo, tar, zstd and openssl. No network.
#
# Environment knobs (defaults give the figures in BENCHMARKS.md):
#   REPS=3            repetitions per measurement (the median is reported)
#   IMAGES=8          images in the big hop (each linux/amd64 + linux/arm64)
#   BIG_LAYER_MIB=44  size of the largest per-image layer
#   CARGO_TARGET_DIR  where the release binaries are (built here if stale)
#   BENCH_TMP=/tmp    where the scratch directory goes (needs ~8 GiB free)
#   KEEP=1            keep the scratch directory (and print its path)
#   RESULTS=FILE      also write the markdown report to FILE
#
# Every measured command runs under `/usr/bin/time -v` (wall time, user+sys CPU,
# max RSS). For shell pipelines, max RSS is that of the largest single process.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${REPS:-3}
IMAGES=${IMAGES:-8}
BIG_LAYER_MIB=${BIG_LAYER_MIB:-44}
SMALL_IMAGES=4 # small hop: the first 4 images, linux/amd64 only (~290 MiB)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RESULTS=${RESULTS:-}
T0=$(date +%s)

for tool in docker-registry skopeo zstd openssl tar curl python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

WORK=$(mktemp -d "${BENCH_TMP:-/tmp}/airlock-bench-XXXXXX")
case "$WORK" in *:*) echo "scratch path contains ':' (skopeo oci: syntax): $WORK" >&2; exit 1 ;; esac
declare -A REG_PID=()

cleanup() {
    local rc=$?
    for name in "${!REG_PID[@]}"; do
        kill "${REG_PID[$name]}" 2>/dev/null || true
        wait "${REG_PID[$name]}" 2>/dev/null || true
    done
    if [[ "${KEEP:-}" == 1 ]]; then
        echo "kept scratch directory: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[%4ds] %s\n' $(($(date +%s) - T0)) "$*" >&2; }

# ---------------------------------------------------------------------------
# Binaries
# ---------------------------------------------------------------------------
log "cargo build --release (target dir $CARGO_TARGET_DIR)"
(cd "$ROOT" && cargo build --release --quiet --bins --example gen_hop)
AIRLOCK=$CARGO_TARGET_DIR/release/airlock
VERIFY=$CARGO_TARGET_DIR/release/airlock-verify
GEN=$CARGO_TARGET_DIR/release/examples/gen_hop
export DOCKER_CONFIG=$WORK/no-docker-config # no credential lookups
SKOPEO=(skopeo --insecure-policy)

# ---------------------------------------------------------------------------
# Registries
# ---------------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_registry NAME [PORT]: fresh storage under $WORK/reg-NAME; sets HOST_<NAME>.
start_registry() {
    local name=$1 port=${2:-}
    stop_registry "$name"
    local dir=$WORK/reg-$name
    rm -rf "$dir"
    mkdir -p "$dir/storage"
    [[ -n "$port" ]] || port=$(free_port)
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: airlock-bench-secret
EOF
    docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    REG_PID[$name]=$!
    local i
    for i in $(seq 1 200); do
        if curl -sf -o /dev/null "http://127.0.0.1:$port/v2/"; then
            printf -v "HOST_${name^^}" '%s' "127.0.0.1:$port"
            return 0
        fi
        kill -0 "${REG_PID[$name]}" 2>/dev/null || break
        sleep 0.05
    done
    echo "registry $name did not start:" >&2
    cat "$dir/registry.log" >&2
    exit 1
}

stop_registry() {
    local name=$1
    if [[ -n "${REG_PID[$name]:-}" ]]; then
        kill "${REG_PID[$name]}" 2>/dev/null || true
        wait "${REG_PID[$name]}" 2>/dev/null || true
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

# measure LABEL CMD...: one timed run; appends
# "LABEL wall_s cpu_s maxrss_kib registry_cpu_s load1_before" to the TSV.
measure() {
    local label=$1
    shift
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
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$wall" "$cpu" "$rss" "$regcpu" "$load" >>"$RESULTS_TSV"
    log "$(printf '%-24s %6.2f s wall %6.2f s cpu %6.1f MiB max RSS %6.2f s registry cpu (load %s)' \
        "$label" "$wall" "$cpu" "$(awk -v r="$rss" 'BEGIN {print r / 1024}')" "$regcpu" "$load")"
}

# median LABEL COLUMN (2 wall, 3 cpu, 4 rss)
median() {
    awk -F'\t' -v l="$1" -v c="$2" '$1 == l {print $c}' "$RESULTS_TSV" | sort -g |
        awk '{v[NR] = $1} END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---------------------------------------------------------------------------
# 1. Data: images in the upstream registry, lock files, key
# ---------------------------------------------------------------------------
start_registry upstream
UP=$HOST_UPSTREAM
log "upstream registry on $UP"

log "generating $IMAGES images (linux/amd64 + linux/arm64, gzip layers of random data)"
"$GEN" "$WORK/gen" "$IMAGES" "$BIG_LAYER_MIB" >"$WORK/images.txt"
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
write_lock "$WORK/big.lock" "$IMAGES" "linux/amd64, linux/arm64"
write_lock "$WORK/small.lock" "$SMALL_IMAGES" "linux/amd64"
"$AIRLOCK" keygen --no-passphrase --out "$WORK/keys/release" >/dev/null
KEY=$WORK/keys/release

NET=(--insecure-registry "$UP" --mirror "registry.k8s.io=$UP")
CACHE=$WORK/cache

# airlock build LOCK --out OUT ... (a command line for `measure`, not a function:
# /usr/bin/time runs programs, not shell functions)
BUILD=(env "AIRLOCK_CACHE=$CACHE" "$AIRLOCK" build --key "$KEY.key" --quiet)

# ---------------------------------------------------------------------------
# 2a. BUILD
# ---------------------------------------------------------------------------
log "BUILD: airlock build, cold cache"
for r in $(seq "$REPS"); do
    rm -rf "$CACHE" "$WORK/bundle"
    measure build.airlock.cold "${BUILD[@]}" "$WORK/big.lock" --out "$WORK/bundle" "${NET[@]}"
done

# Warm rebuild: the cache is full; the mirror points at a closed port, so any
# network access would fail the build (proves it works offline).
DEAD=127.0.0.1:$(free_port)
log "BUILD: airlock build, warm cache, upstream unreachable ($DEAD)"
for r in $(seq "$REPS"); do
    rm -rf "$WORK/bundle-warm"
    measure build.airlock.warm "${BUILD[@]}" "$WORK/big.lock" --out "$WORK/bundle-warm" \
        --insecure-registry "$DEAD" --mirror "registry.k8s.io=$DEAD"
done
if cmp -s "$WORK/bundle/manifest.json" "$WORK/bundle-warm/manifest.json" &&
    cmp -s "$WORK/bundle/payload.tar.zst" "$WORK/bundle-warm/payload.tar.zst"; then
    REPRO="byte-identical"
else
    REPRO="DIFFERENT"
fi
rm -rf "$WORK/bundle-warm"

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
log "BUILD: reference skopeo copy --all (each image -> one OCI dir) + tar | zstd -T0 -3"
for r in $(seq "$REPS"); do
    measure build.reference bash -c reference_build
done

# ---------------------------------------------------------------------------
# 2b. VERIFY
# ---------------------------------------------------------------------------
log "VERIFY: airlock-verify verify vs zstd -dc | openssl dgst -sha256"
for r in $(seq "$REPS"); do
    measure verify.airlock "$VERIFY" verify "$WORK/bundle" --trust "$KEY.pub" --quiet
    measure verify.reference bash -c "zstd -dc '$WORK/bundle/payload.tar.zst' | openssl dgst -sha256"
    measure verify.sha256sum bash -c "zstd -dc '$WORK/bundle/payload.tar.zst' | sha256sum"
done

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
log "INSTALL: airlock-verify install (then again, idempotent) vs skopeo copy --all from the OCI dir"
for r in $(seq "$REPS"); do
    start_registry enclave "$ENC_PORT"
    rm -rf "$WORK/dest"
    measure install.airlock "${INSTALL[@]}" "$WORK/bundle" --dest "$WORK/dest"
    measure install.airlock.again "${INSTALL[@]}" "$WORK/bundle" --dest "$WORK/dest"
    start_registry enclave "$ENC_PORT"
    measure install.reference bash -c reference_install
done
# Did airlock's install give the same digests as upstream? (checked on the last install)
start_registry enclave "$ENC_PORT"
"${INSTALL[@]}" "$WORK/bundle" --dest "$WORK/dest" >/dev/null
INSTALL_OK=yes
while read -r _p repo tag digest; do
    got=$("${SKOPEO[@]}" inspect --raw --tls-verify=false "docker://$HOST_ENCLAVE/$repo:$tag" |
        openssl dgst -sha256 -r | cut -d' ' -f1)
    [[ "sha256:$got" == "$digest" ]] || INSTALL_OK="NO ($repo:$tag served sha256:$got)"
done <"$WORK/images.txt"

# ---------------------------------------------------------------------------
# 2d. Memory: the same steps on a smaller hop
# ---------------------------------------------------------------------------
log "MEMORY: small hop ($SMALL_IMAGES images, linux/amd64 only)"
for r in $(seq "$REPS"); do
    rm -rf "$CACHE" "$WORK/bundle-small"
    measure small.build.airlock.cold "${BUILD[@]}" "$WORK/small.lock" --out "$WORK/bundle-small" "${NET[@]}"
done
for r in $(seq "$REPS"); do
    measure small.verify.airlock "$VERIFY" verify "$WORK/bundle-small" --trust "$KEY.pub" --quiet
done
for r in $(seq "$REPS"); do
    start_registry enclave "$ENC_PORT"
    rm -rf "$WORK/dest-small"
    measure small.install.airlock "${INSTALL[@]}" "$WORK/bundle-small" --dest "$WORK/dest-small"
done
stop_registry enclave

# Files (kubeadm/kubelet-like binaries) are not precompressed, so they go through the
# level-3 multi-threaded zstd frame, whose input buffer grows with --threads. Measure a
# warm rebuild (pack only) of a lock holding one plain file of 16 or 256 MiB.
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
log "MEMORY: bundles of plain files (warm cache, pack only)"
for mib in 16 256; do
    files_lock "$mib"
    rm -rf "$CACHE" "$WORK/bundle-files"
    "${BUILD[@]}" "$WORK/files-$mib.lock" --out "$WORK/bundle-files" >/dev/null # fill the cache
    for th in "" 8; do
        for r in $(seq "$REPS"); do
            rm -rf "$WORK/bundle-files"
            measure "files$mib.build.airlock${th:+.threads$th}" "${BUILD[@]}" "$WORK/files-$mib.lock" \
                --out "$WORK/bundle-files" ${th:+--threads "$th"}
        done
    done
    for r in $(seq "$REPS"); do
        measure "files$mib.verify.airlock" "$VERIFY" verify "$WORK/bundle-files" --trust "$KEY.pub" --quiet
    done
done

# ---------------------------------------------------------------------------
# 3. Report
# ---------------------------------------------------------------------------
json_num() { # json_num FILE KEY: first numeric "KEY": N in a JSON file
    grep -o "\"$2\": *[0-9]*" "$1" | head -1 | grep -o '[0-9]*$'
}
BIG_TAR=$(json_num "$WORK/bundle/manifest.json" tar_size)
BIG_PAY=$(stat -c %s "$WORK/bundle/payload.tar.zst")
SMALL_TAR=$(json_num "$WORK/bundle-small/manifest.json" tar_size)
SMALL_PAY=$(stat -c %s "$WORK/bundle-small/payload.tar.zst")
REF_PAY=$(stat -c %s "$WORK/ref.tar.zst")
mib() { echo "$1" | awk '{printf "%.0f", $1 / 1048576}'; }

W() { median "$1" 2 | awk '{printf "%.2f", $1}'; }
C() { median "$1" 3 | awk '{printf "%.2f", $1}'; }
R() { median "$1" 4 | awk '{printf "%.1f", $1 / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
verdict() { # verdict A B: airlock A must be <= reference B
    awk -v a="$1" -v b="$2" 'BEGIN { if (a <= b) print "met"; else printf "**missed** (+%.0f%%)", (a / b - 1) * 100 }'
}
row() { # row STEP AIRLOCK_LABEL REF_LABEL TARGET_TEXT
    local a=$2 b=$3
    if [[ -n "$b" ]]; then
        printf '| %s | %s | %s | %s | %s / %s | %s / %s | %s |\n' "$1" "$(W "$a")" "$(W "$b")" \
            "$(ratio "$(W "$a")" "$(W "$b")")" "$(C "$a")" "$(C "$b")" "$(R "$a")" "$(R "$b")" "$4"
    else
        printf '| %s | %s | - | - | %s / - | %s / - | %s |\n' "$1" "$(W "$a")" "$(C "$a")" "$(R "$a")" "$4"
    fi
}

{
    echo "Hop: $IMAGES images x 2 platforms, $(mib "$BIG_TAR") MiB of blobs (payload tar), airlock payload $(mib "$BIG_PAY") MiB, reference tar.zst $(mib "$REF_PAY") MiB."
    echo "Small hop: $SMALL_IMAGES images x linux/amd64, $(mib "$SMALL_TAR") MiB tar, payload $(mib "$SMALL_PAY") MiB."
    echo "Generated OCI layout: $(mib "$GEN_BYTES") MiB. Median of $REPS runs each."
    echo
    echo "| Step | airlock s | reference s | ratio (airlock / ref) | CPU s airlock / ref | max RSS MiB airlock / ref | target |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    row "build, cold cache" build.airlock.cold build.reference "faster than skopeo+tar+zstd: $(verdict "$(W build.airlock.cold)" "$(W build.reference)")"
    row "build, warm cache (offline)" build.airlock.warm build.reference "(info; bundle $REPRO to the cold build)"
    row "verify" verify.airlock verify.reference "no slower than zstd -dc \| openssl: $(verdict "$(W verify.airlock)" "$(W verify.reference)")"
    row "verify (ref. with sha256sum)" verify.airlock verify.sha256sum "(info: coreutils sha256sum instead of openssl)"
    row "install, empty registry" install.airlock install.reference "no slower than skopeo: $(verdict "$(W install.airlock)" "$(W install.reference)")"
    row "install again (idempotent)" install.airlock.again install.reference "(info; digests as upstream: $INSTALL_OK)"
    echo
    echo "Peak memory (max RSS MiB, median) as the hop grows, target < 64 MiB and flat:"
    echo
    echo "| Command | small hop ($(mib "$SMALL_TAR") MiB) | big hop ($(mib "$BIG_TAR") MiB) | growth |"
    echo "|---|---:|---:|---:|"
    for step in build.airlock.cold verify.airlock install.airlock; do
        s=$(R "small.$step")
        b=$(R "$step")
        name=${step/.airlock/}
        printf '| %s | %s | %s | %s |\n' "airlock ${name/build.cold/build (cold)}" "$s" "$b" \
            "$(awk -v s="$s" -v b="$b" 'BEGIN {printf "%+.1f MiB", b - s}')"
    done
    echo
    echo "Peak memory (max RSS MiB, median) of a bundle of one plain (not precompressed) file, default --threads ($(nproc) here) and --threads 8:"
    echo
    echo "| Command | 16 MiB file | 256 MiB file |"
    echo "|---|---:|---:|"
    echo "| airlock build (warm), default threads | $(R files16.build.airlock) | $(R files256.build.airlock) |"
    echo "| airlock build (warm), --threads 8 | $(R files16.build.airlock.threads8) | $(R files256.build.airlock.threads8) |"
    echo "| airlock-verify verify | $(R files16.verify.airlock) | $(R files256.verify.airlock) |"
    echo
    echo "All runs:"
    echo
    echo '```'
    { printf 'label\twall_s\tcpu_s\tmax_rss_KiB\tregistry_cpu_s\tload1_before\n'; cat "$RESULTS_TSV"; } | column -t
    echo '```'
    echo
    echo "Total benchmark wall time: $(($(date +%s) - T0)) s."
} >"$WORK/report.md"

cat "$WORK/report.md"
if [[ -n "$RESULTS" ]]; then
    cp "$WORK/report.md" "$RESULTS"
    log "report written to $RESULTS"
fi
