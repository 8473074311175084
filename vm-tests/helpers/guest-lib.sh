# Sourced by guest scripts (copied into the job dir, seen as /vmtest/guest-lib.sh).
# Assertions print "ok - …" or "FAIL - …"; the host counts those lines.
export PATH=/opt/xcat/bin:/opt/xcat/sbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
GUEST_FAILS=0

# check DESC CMD…: passes when CMD exits 0; its output is shown on failure.
check() {
    local desc=$1; shift
    local out
    if out=$("$@" 2>&1); then
        echo "ok - $desc"
    else
        echo "FAIL - $desc (command: $*)"
        printf '%s\n' "$out" | tail -n 15 | sed 's/^/    | /'
        GUEST_FAILS=$((GUEST_FAILS + 1))
    fi
}

# check_eq DESC EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then
        echo "ok - $1"
    else
        echo "FAIL - $1 (expected [$2], got [$3])"
        GUEST_FAILS=$((GUEST_FAILS + 1))
    fi
}

# check_fails DESC CMD…: passes when CMD exits non-zero.
check_fails() {
    local desc=$1; shift
    if "$@" > /tmp/check_fails.out 2>&1; then
        echo "FAIL - $desc (command succeeded: $*)"
        GUEST_FAILS=$((GUEST_FAILS + 1))
    else
        echo "ok - $desc"
    fi
}

# stage NAME: a visible marker in the output, with the guest's uptime.
stage() { echo "## $* (uptime $(cut -d' ' -f1 /proc/uptime) s)"; }

# mount_stick [ro] [N] [DIR]: waits for USB stick N's partition and mounts
# it (default /media/stick). `udevadm settle` returns before USB enumeration
# under TCG, so the node itself is waited for.
mount_stick() {
    local ro=${1:-} n=${2:-0} dir=${3:-/media/stick}
    local dev=/dev/disk/by-id/usb-QEMU_QEMU_HARDDISK_VMSTICK$n-0:0-part1
    udevadm wait --timeout=90 "$dev" || { echo "FAIL - USB stick $n appears"; return 1; }
    mkdir -p "$dir"
    if [ "$ro" = ro ]; then mount -o ro "$dev" "$dir"; else mount "$dev" "$dir"; fi
}

# ask_xcatd REQUEST: one request to the running daemon on 127.0.0.1:3001.
ask_xcatd() {
    local i
    systemctl is-active --quiet xcatd.service || return 1
    for i in $(seq 1 50); do
        if (exec 3<>/dev/tcp/127.0.0.1/3001 && echo "$1" >&3 && cat <&3) 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# record_state DIR TREE…: what a comparison between machines needs: a
# listing (type, mode, owner and group by name, size, mtime, sha256, link
# target), the xattrs, the DB dump, the xCAT packages and the daemons' view.
record_state() {
    local out=$1; shift
    mkdir -p "$out"
    find "$@" -xdev \( -type f -o -type d -o -type l \) -printf '%p|%y|%m|%u|%g|%s|%T@|%l\n' 2>/dev/null |
        sort > "$out/list.raw"
    : > "$out/sums"
    find "$@" -xdev -type f -print0 2>/dev/null | xargs -0 -r sha256sum > "$out/sums"
    getfattr -R -h -d -m - -e hex --absolute-names "$@" > "$out/xattrs" 2>/dev/null || true
    dpkg-query -W -f '${Package} ${Version} ${db:Status-Status}\n' > "$out/packages"
    if [ -x /vmtest/bin/xcatdb ]; then
        rm -rf /tmp/dbdump && /vmtest/bin/xcatdb dump -p /tmp/dbdump > /dev/null &&
            (cd /tmp/dbdump && for f in $(ls); do echo "== $f"; cat "$f"; done) > "$out/db"
    fi
    ask_xcatd dump > "$out/xcatd-dump" || true
    ask_xcatd site > "$out/xcatd-site" || true
    ask_xcatd certs > "$out/xcatd-certs" || true
}

finish() {
    echo "guest assertions failed: $GUEST_FAILS"
    [ "$GUEST_FAILS" -eq 0 ]
}
