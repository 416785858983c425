#!/usr/bin/env bash
# Installs everything Weir's test suite needs beyond the Rust toolchain, and
# nothing else: kcat (system package), a C toolchain for librdkafka's build,
# and a Python virtualenv (.venv) with the pinned client libraries from
# tests/python/requirements.txt. Safe to run repeatedly: every step is skipped
# when its result is already present (the venv is rebuilt only when the
# requirements file changes, tracked by a hash stamp inside the venv).
# Runs non-interactively (no stdin needed), as root or through sudo.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv_dir="${WEIR_VENV:-$repo_root/.venv}"
requirements="$repo_root/tests/python/requirements.txt"

log() { printf '[setup-test-deps] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        log "need root (or sudo) to run: $*"
        return 1
    fi
}

apt_updated=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not found; please install these packages yourself: $*"
        return 1
    fi
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
        apt_updated=1
    fi
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" </dev/null
}

# Collect the missing system packages first so apt runs once.
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
# librdkafka (built by the rdkafka crate) needs a C compiler, make and perl-free
# mklove configure; pkg-config helps libz-sys find the system zlib.
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    log "cargo not found: install the Rust toolchain first (https://rustup.rs)"
    exit 1
fi

# Python virtualenv with pinned client libraries.
want_hash="$(sha256sum "$requirements" | cut -d' ' -f1)"
stamp="$venv_dir/.requirements.sha256"
if [ -x "$venv_dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_hash" ]; then
    log "python venv up to date ($venv_dir)"
else
    log "creating python venv in $venv_dir"
    rm -rf "$venv_dir"
    python3 -m venv "$venv_dir"
    "$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input -r "$requirements" </dev/null
    printf '%s\n' "$want_hash" >"$stamp"
fi

command -v kcat >/dev/null 2>&1 || { log "kcat still missing after install"; exit 1; }
log "ok: $(command -v kcat), $("$venv_dir/bin/python" --version)"
