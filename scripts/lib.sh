# Shared helpers for scripts/*: sourced, not run.
# Build products live outside the clone (a reused machine skips rebuilds);
# ./target is a symlink to them so target/release/... paths work as usual.

XCATPORT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
XCATPORT_CACHE=${XCATPORT_CACHE:-/var/cache/xcatport}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==> %s\n' "$*"; }
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

ensure_target_link() {
    cd "$XCATPORT_TOP"
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then
        return
    fi
    if [ ! -e target ] && [ ! -L target ]; then
        mkdir -p "$XCATPORT_CACHE/target"
        ln -s "$XCATPORT_CACHE/target" target
    fi
}

target_dir() {
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then echo "$CARGO_TARGET_DIR"; else echo "$XCATPORT_TOP/target"; fi
}

# apt_need PKG...: installs the Debian packages that are missing; quiet when all are there.
apt_need() {
    local missing=() p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    step "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
