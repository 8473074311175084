# Guest B after a completed restore: daemons, their answers, the stick, state.
set -u
resume_says_finished() { ! /media/stick/xcatimport --resume > /tmp/resume.out 2>&1 && grep -q 'finished' /tmp/resume.out; }
knows_version() { ! grep -q "does not record the source's xCAT version" /vmtest/import.out; }
check "B: xcatimport reads the snapshot's xCAT version from MANIFEST.json (no 'does not record' warning)" knows_version
check "B: xcatimport --resume refuses: the journal records a finished restore" resume_says_finished
for u in xcatd goconserver; do
    check "B: $u.service enabled" systemctl is-enabled --quiet $u.service
    check "B: $u.service active" systemctl is-active --quiet $u.service
done
check_eq "B: lsxcatd -v answers with the snapshot's version" "Version 2.16.5 (git commit standin, built for vm-tests)" "$(lsxcatd -v 2>&1)"
site_has_master() { ask_xcatd site | grep -qx 'master=10.0.0.1'; }
check "B: the running xcatd serves A's site table (master=10.0.0.1)" site_has_master
(cd /media/stick && find . -type f -print0 | sort -z | xargs -0 sha256sum) > /tmp/stick-after
check "B: the stick is unchanged by the import" cmp -s /tmp/stick-before /tmp/stick-after
record_state /vmtest/stateB $(cat /vmtest/trees)
