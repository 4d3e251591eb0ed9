# Shared by bench/run.sh, bench/serve.sh, bench/media.sh and scripts/demo.sh (source it after
# `set -euo pipefail`): the scratch folder and its clean-up, a log line with the elapsed time,
# the tool check, free loopback ports, and docker-registry instances with the one config the
# scripts use (tests/common/servers.rs writes the same settings for the tests, in Rust, with
# the test-only extras: TLS, auth, an instance header).
#
# Knobs read here: BENCH_TMP (where the scratch folder goes, default /tmp), KEEP=1 (keep it).

T0=${T0:-$(date +%s)}
PIDS=()

log() { printf '[%4ds] %s\n' $(($(date +%s) - T0)) "$*" >&2; }

# need_tools TOOL...: exit 1 naming the first one missing.
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
    done
}

# scratch PREFIX [keep]: WORK becomes a fresh folder under BENCH_TMP; on exit every pid in
# PIDS is stopped (after the caller's `on_cleanup`, if it defines one) and the folder is
# removed, unless KEEP=1 or `keep` is given (the demo leaves its work for the reader).
scratch() {
    WORK=$(mktemp -d "${BENCH_TMP:-/tmp}/$1-XXXXXX")
    # skopeo's oci:PATH:REF syntax cannot take a path with ':'.
    case "$WORK" in *:*) echo "scratch path contains ':' (skopeo oci: syntax): $WORK" >&2; exit 1 ;; esac
    SCRATCH_KEEP=${2:-}
    trap scratch_cleanup EXIT
    trap 'exit 130' INT TERM
}

scratch_cleanup() {
    local rc=$? pid
    if declare -F on_cleanup >/dev/null; then on_cleanup; fi
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$SCRATCH_KEEP" ]]; then
        :
    elif [[ "${KEEP:-}" == 1 ]]; then
        echo "kept scratch directory: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit $rc
}

# stop_pid PID: stop one server this script started and forget it.
stop_pid() {
    local pid keep=()
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    # A pid left in PIDS could belong to another process by the time of the clean-up.
    for pid in "${PIDS[@]}"; do [[ "$pid" == "$1" ]] || keep+=("$pid"); done
    PIDS=(${keep[@]+"${keep[@]}"})
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL PID [LOG]: until URL answers; exit 1 (showing LOG) if PID dies or 20 s pass.
wait_http() {
    local i
    for i in $(seq 1 400); do
        curl -sf -o /dev/null "$1" && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05
    done
    echo "no answer at $1" >&2
    if [[ -n "${3:-}" ]]; then cat "$3" >&2; fi
    exit 1
}

# build_release: the release binaries and the gen_hop example, into $CARGO_TARGET_DIR; sets
# AIRLOCK, VERIFY and GEN to them and points DOCKER_CONFIG at an empty folder (no credential
# lookups). Needs ROOT, CARGO_TARGET_DIR and WORK (from `scratch`).
build_release() {
    log "cargo build --release (target dir $CARGO_TARGET_DIR)"
    (cd "$ROOT" && cargo build --release --quiet --bins --example gen_hop)
    # shellcheck disable=SC2034 # read by the scripts that source this file
    AIRLOCK=$CARGO_TARGET_DIR/release/airlock
    # shellcheck disable=SC2034
    VERIFY=$CARGO_TARGET_DIR/release/airlock-verify
    # shellcheck disable=SC2034
    GEN=$CARGO_TARGET_DIR/release/examples/gen_hop
    export DOCKER_CONFIG=$WORK/no-docker-config
}

# registry_config DIR PORT SECRET: DIR/config.yml for a docker-registry on 127.0.0.1:PORT
# storing under DIR/storage; errors only, no access log (it would cost the measured runs),
# no upload purging (it would run in the middle of a measurement).
registry_config() {
    mkdir -p "$1/storage"
    cat >"$1/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $1/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$2
  secret: $3
EOF
}

# start_registry DIR [PORT]: a docker-registry with fresh storage in DIR (on a free port
# unless PORT is given), answering before this returns; sets REGISTRY_PID and
# REGISTRY_HOST (not in a subshell, so the pid is ours) and adds the pid to PIDS.
start_registry() {
    local dir=$1 port=${2:-}
    rm -rf "$dir"
    [[ -n "$port" ]] || port=$(free_port)
    registry_config "$dir" "$port" "airlock-bench-secret"
    docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    REGISTRY_PID=$!
    PIDS+=("$REGISTRY_PID")
    REGISTRY_HOST=127.0.0.1:$port
    wait_http "http://$REGISTRY_HOST/v2/" "$REGISTRY_PID" "$dir/registry.log"
}

# push_generated LAYOUT_DIR LIST HOST: `skopeo copy --all --preserve-digests` every
# "PATH REPO TAG" line of LIST (gen_hop's output) from LAYOUT_DIR/PATH to HOST.
push_generated() {
    local p repo tag _
    while read -r p repo tag _; do
        skopeo --insecure-policy copy --quiet --all --preserve-digests --dest-tls-verify=false \
            "oci:$1/$p:$repo:$tag" "docker://$3/$repo:$tag"
    done <"$2"
}
