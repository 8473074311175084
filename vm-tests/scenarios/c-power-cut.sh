# c. power cut mid-restore: B loses power during the files step (the test
# hook kills xcatimport, then qemu is killed at once: no sync, no shutdown).
# It boots again with its disk kept: --resume ends in A's state; from a copy
# of the same crashed disk, --rollback returns B to its pre-restore state.
factory
factory_ok || return 0
f=$FACTORY
dir="$VMT_RUN/$SCEN"; mkdir -p "$dir"
disk="$dir/b.qcow2"; rm -f "$disk"
job=$(new_job B1-cut)
cp "$f/A/fixture-accounts" "$f/A/trees" "$job/"
cat > "$job/b.sh" <<'EOS'
. /vmtest/guest-lib.sh
. /vmtest/guest-b.sh
record_state /vmtest/stateB0 $(cat /vmtest/trees)
sync   # what the admin did before the restore is on disk; the restore's own writes are not forced out
stage "B1: xcatimport, killed during the files step, then the power is cut"
XCATPORT_TEST_FAIL_AFTER_ENTRIES=250 "${IMPORT[@]}" > /vmtest/import.out 2>&1
rc=$?
check_eq "B1: xcatimport was killed inside the files step (SIGKILL, 137)" 137 "$rc"
echo "guest assertions failed: $GUEST_FAILS"
sleep 0.5
touch /vmtest/POWER-CUT
sleep 600
EOS
cp --sparse=always "$f/stick.img" "$dir/stick-cut.img"
rc=0; guest "$job" B1-cut --disk "$disk" --usb-stick "$dir/stick-cut.img" --kill-on POWER-CUT --timeout 900 "$job/b.sh" || rc=$?
hcheck_eq "B1: qemu was killed mid-restore (power cut)" 137 "$rc"
hcheck "B1: the guest reached the power cut" grep -q '^ok - B1: xcatimport was killed' "$job/out.log"
pre="$job/stateB0"
cp --sparse=always "$disk" "$dir/b-rollback.qcow2"

# Boot 2 (resume) and boot 3 (rollback) from the same crashed disk.
jr=$(new_job B2-resume)
cp "$f/A/fixture-accounts" "$f/A/trees" "$jr/"
cat > "$jr/b.sh" <<'EOS'
. /vmtest/guest-lib.sh
stage "B2: powered on again after the cut"
mount_stick rw 0 || exit 1
(cd /media/stick && find . -type f -print0 | sort -z | xargs -0 sha256sum) > /tmp/stick-before
fresh_refused() { ! /media/stick/xcatimport --yes > /tmp/fresh.out 2>&1 && grep -q -- '--resume' /tmp/fresh.out; }
check "B2: a new restore is refused while the interrupted one is unfinished (points to --resume)" fresh_refused
/media/stick/xcatimport --resume --yes > /vmtest/import.out 2>&1
rc=$?
sed 's/^/    | resume: /' /vmtest/import.out | tail -n 12
check_eq "B2: xcatimport --resume exits 0" 0 "$rc"
. /vmtest/guest-b-after.sh
finish
EOS
jb=$(new_job B3-rollback)
cp "$f/A/trees" "$jb/"
cat > "$jb/b.sh" <<'EOS'
. /vmtest/guest-lib.sh
stage "B3: powered on again after the cut, rolling back"
mount_stick rw 0 || exit 1
/media/stick/xcatimport --rollback --yes > /vmtest/rollback.out 2>&1
rc=$?
sed 's/^/    | rollback: /' /vmtest/rollback.out | tail -n 8
check_eq "B3: xcatimport --rollback exits 0" 0 "$rc"
resume_refused() { ! /media/stick/xcatimport --resume > /tmp/r.out 2>&1 && grep -q 'rolled back' /tmp/r.out; }
check "B3: --resume after the rollback is refused (rolled back)" resume_refused
check "B3: no restored database is left in /etc/xcat" sh -c '! ls /etc/xcat/*.sqlite 2>/dev/null | grep -q .'
record_state /vmtest/stateB3 $(cat /vmtest/trees)
# Packages stay installed after a rollback (by design); their own files are
# left out of the before/after comparison.
cat /var/lib/dpkg/info/*.list | sort -u > /vmtest/pkgfiles
finish
EOS
cp --sparse=always "$disk" "$dir/b-resume.qcow2"
# Two guests at once cannot share one image file (qemu locks it): each gets a copy.
cp --sparse=always "$f/stick.img" "$dir/stick-resume.img"
cp --sparse=always "$f/stick.img" "$dir/stick-rollback.img"
r2=0 r3=0
guest "$jr" B2-resume --disk "$dir/b-resume.qcow2" --usb-stick "$dir/stick-resume.img" --timeout 900 "$jr/b.sh" > "$dir/b2.log" 2>&1 & p2=$!
guest "$jb" B3-rollback --disk "$dir/b-rollback.qcow2" --usb-stick "$dir/stick-rollback.img:ro" --timeout 900 "$jb/b.sh" > "$dir/b3.log" 2>&1 & p3=$!
wait $p2 || r2=$?
wait $p3 || r3=$?
cat "$dir/b2.log"; guest_ran "$jr" B2-resume "$r2"
compare_with_a B2-resume "$jr/stateB"
cat "$dir/b3.log"; guest_ran "$jb" B3-rollback "$r3"
sed 's|^/||; s|/$||' "$jb/pkgfiles" 2>/dev/null | sort -u > "$dir/pkgfiles"
sed 's|/$||' "$f/members" | grep -vxFf "$dir/pkgfiles" > "$dir/members-not-packaged"
for aspect in meta content xattrs; do
    hcheck "B3 after rollback equals B before the restore: $aspect (files not owned by packages)" python3 "$VMT_DIR/helpers/compare-state.py" "$pre" "$jb/stateB3" "$dir/members-not-packaged" "$aspect" --absent-ok
done
