#!/usr/bin/env bash
# A headless Chromium for the dashboard test (tests/reporting/test_dashboard.py): Debian's
# chromium-headless-shell (the small headless-only build), else Debian's full chromium. Idempotent: a
# second call only checks that the browser answers (~1 s). Prints the browser's path on stdout.
#
# Exit status: 0 ready; 3 only where this machine cannot have it at all (not root, no apt-get), which
# the test turns into a skip with this script's message; anything else is a real failure that stops
# CI: a failed package install (no network, a broken mirror), a browser that does not start.
set -euo pipefail

say() { echo "setup_browser: $*" >&2; }
unavailable() { say "unavailable: $*"; exit 3; }
fail() { say "failed: $*"; exit 1; }
# A step that happens to exit 3 must not read as "unavailable" (a skip): any failure here is status 1.
trap 'status=$?; if ((status == 3)); then say "a step failed with status 3"; exit 1; fi' ERR
log=${TMPDIR:-/tmp}/setup_browser_apt.log

browser() { command -v chromium-headless-shell || command -v chromium || true; }
answers() { timeout 60 "$1" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1 \
    || timeout 60 "$1" --version >/dev/null 2>&1; }

found=$(browser)
if [[ -n $found ]] && answers "$found"; then
    echo "$found"
    exit 0
fi

[[ $(id -u) -eq 0 ]] || unavailable "needs root to install Debian's chromium-headless-shell (or install it yourself)"
command -v apt-get >/dev/null || unavailable "no apt-get to install chromium-headless-shell"
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends)
install() { "${apt[@]}" "$@" >>"$log" 2>&1; }
: >"$log"
if ! install chromium-headless-shell && ! install chromium; then
    apt-get -o DPkg::Lock::Timeout=600 update -q >>"$log" 2>&1 || true
    install chromium-headless-shell || install chromium \
        || fail "apt-get install chromium-headless-shell (or chromium) failed: $(tail -n 3 "$log" | tr '\n' ' ')(see $log)"
fi

found=$(browser)
[[ -n $found ]] || fail "apt-get installed the package but neither chromium-headless-shell nor chromium is on PATH"
answers "$found" || fail "$found does not start: $(timeout 60 "$found" --headless --no-sandbox --version 2>&1 | tail -n 2 | tr '\n' ' ')"
echo "$found"
