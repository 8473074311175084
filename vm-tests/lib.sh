# Shared helpers for vm-tests/*: sourced, not run.
VMT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
XCATPORT_TOP=$(cd "$VMT_DIR/.." && pwd)
VMT_CACHE=${VMT_CACHE:-/var/cache/xcatport/vm}
VMT_SUITE=bookworm
VMT_MIRROR=${VMT_MIRROR:-http://deb.debian.org/debian}

vmt_die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }
vmt_log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# The image directory for the current guest/ and build-image inputs.
vmt_image_hash() {
    cat "$VMT_DIR/build-image" "$VMT_DIR"/guest/* | sha256sum | cut -c1-16
}
vmt_image_dir() { echo "$VMT_CACHE/image-$(vmt_image_hash)"; }
