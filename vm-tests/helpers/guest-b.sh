# Guest B, the site's fresh MN: the fixture's accounts exist under other
# numbers; the stick is restored with /media/stick/xcatimport.
# Sourced after guest-lib.sh. Env: STICK_MODE (rw|ro), IMPORT_ARGS.
set -u
stage "B: fresh machine, stick plugged in"
check_fails "B: xcat is not installed before the restore" dpkg -s xcat
check "B: /etc/xcat does not exist before the restore" test ! -e /etc/xcat
mount_stick "${STICK_MODE:-rw}" 0 || exit 1
check_eq "B: stick mounted ${STICK_MODE:-rw}" "${STICK_MODE:-rw}" "$(findmnt -no OPTIONS /media/stick | cut -d, -f1)"
(cd /media/stick && find . -type f -print0 | sort -z | xargs -0 sha256sum) > /tmp/stick-before
# The same account names as A, other numbers: owners must be restored by name.
n=0
while IFS=: read -r kind name group home shell; do
    n=$((n + 1))
    case "$kind" in
        group) groupadd -g $((4000 + n)) "$name" ;;
        user) useradd -M -u $((4000 + n)) ${group:+-g "$group"} -d "$home" -s "$shell" "$name" ;;
    esac
done < /vmtest/fixture-accounts
check "B: fixture account names exist with numbers other than A's" test "$n" -gt 0

stage "B: xcatimport"
# Every preflight check passes (exit 2 only says steps are not available yet).
verify_checks_pass() {
    /media/stick/xcatimport --verify --json > /tmp/verify.json 2>/tmp/verify.err
    local rc=$?
    { [ $rc = 0 ] || [ $rc = 2 ]; } && grep -q '"snapshot"' /tmp/verify.json && ! grep -Eq '"ok": *false' /tmp/verify.json
}
check "B: xcatimport --verify: every preflight check passes before anything is changed" verify_checks_pass
/media/stick/xcatimport --dry-run > /tmp/dry.out 2>&1
dry=$?
import_log=/vmtest/import.out
if [ $dry = 2 ] && grep -q 'not available' /tmp/dry.out; then
    # Interim until the packages and live steps land in xcatimport: install the
    # stand-in xCAT from the stick's own repos by hand, restore through a bind
    # mount of / (not "live"), and restart the daemons by hand.
    echo "## INTERIM: $(grep -o 'the [a-z, ]* steps\? (' /tmp/dry.out | head -1 | sed 's/ ($//') not available in this xcatimport; assertions marked [interim] wait for them"
    mkdir -p /var/lib/xcatport-interim
    cat /media/stick/xcat-rpms.tar* | tar -xf - -C /var/lib/xcatport-interim   # split: .000, .001, …
    : > /etc/apt/sources.list.d/xcatport-interim.list
    for p in $(find /var/lib/xcatport-interim -name Packages); do
        echo "deb [trusted=yes] file://$(dirname "$p") ./" >> /etc/apt/sources.list.d/xcatport-interim.list
    done
    check "B [interim]: the stick's xcat-rpms.tar holds apt repos" test -s /etc/apt/sources.list.d/xcatport-interim.list
    check "B [interim]: apt-get update from the stick's repos" apt-get update -qq
    check "B [interim]: apt-get install xcat from the stick's repos" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xcat
    rm -f /etc/apt/sources.list.d/xcatport-interim.list
    mkdir -p /mnt/root && mount --bind / /mnt/root
    IMPORT=(/media/stick/xcatimport --yes --root /mnt/root --skip-packages ${IMPORT_ARGS:-})
    ROOTARG=(--root /mnt/root)
    INTERIM=1
else
    check_eq "B: xcatimport --dry-run exits 0" 0 "$dry"
    IMPORT=(/media/stick/xcatimport --yes ${IMPORT_ARGS:-})
    ROOTARG=()
    INTERIM=0
fi
