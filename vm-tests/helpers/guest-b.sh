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
verify_checks_pass() {
    /media/stick/xcatimport --verify --json > /tmp/verify.json 2>/tmp/verify.err &&
        grep -q '"snapshot"' /tmp/verify.json && ! grep -Eq '"ok": *false' /tmp/verify.json
}
check "B: xcatimport --verify: every preflight check passes before anything is changed" verify_checks_pass
/media/stick/xcatimport --dry-run > /tmp/dry.out 2>&1
dry=$?
check_eq "B: xcatimport --dry-run exits 0 (every step available)" 0 "$dry"
[ $dry = 0 ] || sed 's/^/    | dry-run: /' /tmp/dry.out | tail -n 5
IMPORT=(/media/stick/xcatimport --yes ${IMPORT_ARGS:-})
