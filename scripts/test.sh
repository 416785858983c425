#!/usr/bin/env bash
# The one command that runs Weir's whole test suite, locally and in CI
# (.ci/run calls it): installs the test dependencies (scripts/setup-test-deps.sh),
# checks formatting and lints, builds every target, runs the Rust tests
# (unit tests and the system tests that drive the real `weir` binary with
# librdkafka), then the Python system tests (confluent-kafka, kafka-python,
# aiokafka, kcat). Every step runs even if an earlier one failed (except that
# tests need a successful build); a summary follows and the exit status is
# non-zero if anything failed.
#
# Environment:
#   WEIR_TEST_SKIP_LINT=1   skip `cargo fmt --check` and clippy
#   WEIR_TEST_SKIP_PYTHON=1 skip the Python tests (and their setup)
#   PYTEST_ARGS="..."       extra arguments for pytest (e.g. "-k kcat")
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"
export WEIR_BIN="${WEIR_BIN:-$repo_root/target/debug/weir}"

steps=()
results=()
failed=0

run_step() {
    local name="$1"
    shift
    printf '\n==> %s\n    $ %s\n' "$name" "$*"
    local start=$SECONDS status=0
    "$@" </dev/null || status=$?
    local took=$((SECONDS - start))
    steps+=("$name")
    if [ "$status" -eq 0 ]; then
        results+=("ok      ${took}s")
    else
        results+=("FAILED  ${took}s (exit $status)")
        failed=1
    fi
    return "$status"
}

skip_step() {
    steps+=("$1")
    results+=("skipped ($2)")
}

summary() {
    printf '\n==> Summary\n'
    local i
    for i in "${!steps[@]}"; do
        printf '    %-28s %s\n' "${steps[$i]}" "${results[$i]}"
    done
    if [ "$failed" -eq 0 ]; then
        printf '\nALL TESTS PASSED\n'
    else
        printf '\nTESTS FAILED\n'
    fi
}
trap summary EXIT

python_enabled=1
[ "${WEIR_TEST_SKIP_PYTHON:-0}" = 1 ] && python_enabled=0

if [ "$python_enabled" = 1 ]; then
    run_step "install test deps" ./scripts/setup-test-deps.sh || exit 1
else
    skip_step "install test deps" "WEIR_TEST_SKIP_PYTHON=1"
fi

if [ "${WEIR_TEST_SKIP_LINT:-0}" = 1 ]; then
    skip_step "cargo fmt --check" "WEIR_TEST_SKIP_LINT=1"
    skip_step "cargo clippy" "WEIR_TEST_SKIP_LINT=1"
else
    run_step "cargo fmt --check" cargo fmt --all -- --check || true
    run_step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings || true
fi

if ! run_step "cargo build" cargo build --workspace --all-targets; then
    skip_step "rust tests" "build failed"
    skip_step "python tests" "build failed"
    exit 1
fi

if cargo nextest --version >/dev/null 2>&1; then
    run_step "rust tests (nextest)" cargo nextest run --workspace \
        --config-file scripts/nextest.toml || true
    run_step "rust doc tests" cargo test --workspace --doc || true
else
    run_step "rust tests" cargo test --workspace || true
fi

if [ "$python_enabled" = 1 ]; then
    # shellcheck disable=SC2086 # PYTEST_ARGS is split on purpose.
    run_step "python tests" .venv/bin/python -m pytest tests/python \
        -p no:cacheprovider ${PYTEST_ARGS:-} || true
else
    skip_step "python tests" "WEIR_TEST_SKIP_PYTHON=1"
fi

exit "$failed"
