# Guest A, the factory MN: stand-in xCAT from its local repos, the synthetic
# MN's configuration, database and /install, then xcatexport to the stick.
# Sourced by a scenario's guest script after guest-lib.sh. Env: EXPORT_ARGS.
set -u
stage "A: stick and xCAT packages"
mount_stick "" 0 || exit 1
check_eq "A: the stick is a removable USB disk (RM TRAN)" "1 usb" "$(lsblk -dno RM,TRAN "$(readlink -f /dev/disk/by-id/usb-QEMU_QEMU_HARDDISK_VMSTICK0-0:0)" | xargs)"
check "A: stick is mounted as vfat" sh -c 'findmnt -no FSTYPE /media/stick | grep -qx vfat'
mkdir -p /install/xcat
cp -r /vmtest/repo/xcat-core /vmtest/repo/xcat-dep /install/xcat/
echo 'deb [trusted=yes] file:///install/xcat/xcat-core ./' > /etc/apt/sources.list.d/xcat-core.list
echo 'deb [trusted=yes] file:///install/xcat/xcat-dep ./' > /etc/apt/sources.list.d/xcat-dep.list
check "A: apt-get update from the local xCAT repos" apt-get update -qq
check "A: apt-get install xcat" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xcat
for u in xcatd goconserver; do
    check "A: $u.service enabled by its postinst" systemctl is-enabled --quiet $u.service
    check "A: $u.service active" systemctl is-active --quiet $u.service
done
check_eq "A: lsxcatd -v asks the running xcatd" "Version 2.16.5 (git commit standin, built for vm-tests)" "$(lsxcatd -v 2>&1)"

stage "A: synthetic MN (mkfixture --distro ubuntu) merged into /"
check "A: mkfixture" /vmtest/bin/xcatport-mkfixture /tmp/mn --distro ubuntu
# The fixture's accounts join A's with the same numbers (its files carry them).
: > /vmtest/fixture-accounts
while IFS=: read -r name _ gid _; do
    getent group "$name" >/dev/null || { groupadd -g "$gid" "$name" 2>/dev/null || groupadd "$name"; echo "group:$name" >> /vmtest/fixture-accounts; }
done < /tmp/mn/etc/group
while IFS=: read -r name _ uid gid gecos home shell; do
    getent passwd "$name" >/dev/null && continue
    g=$(awk -F: -v g="$gid" '$3 == g { print $1 }' /tmp/mn/etc/group | head -1)
    useradd -M -u "$uid" ${g:+-g "$g"} -d "$home" -s "$shell" "$name" 2>/dev/null || useradd -M ${g:+-g "$g"} -d "$home" -s "$shell" "$name"
    echo "user:$name:${g:-}:$home:$shell" >> /vmtest/fixture-accounts
done < /tmp/mn/etc/passwd
check "A: fixture accounts created" test -s /vmtest/fixture-accounts
# Everything of the fixture but the base distro's own files and its stand-in
# xCAT repos (A's real ones are in /install/xcat already).
(cd /tmp/mn && tar --xattrs --xattrs-include='*' --numeric-owner \
    --exclude=./etc/passwd --exclude=./etc/group --exclude=./etc/shadow --exclude=./etc/gshadow \
    --exclude=./etc/os-release --exclude=./etc/hostname --exclude=./etc/apt --exclude=./etc/resolv.conf \
    --exclude=./etc/nsswitch.conf --exclude=./install/xcat --exclude=./var/lib/dpkg \
    --exclude=./usr --exclude=./bin --exclude=./tmp \
    -cf - .) | tar -C / --xattrs --xattrs-include='*' --numeric-owner --no-overwrite-dir -xpf -
check "A: fixture tree merged" test -d /etc/xcat/cert
check "A: the fixture's database is SQLite in /etc/xcat" sh -c 'ls /etc/xcat/site.sqlite'
site_has_master() { ask_xcatd site | grep -qx 'master=10.0.0.1'; }
check "A: xcatd now serves the fixture's site table (master=10.0.0.1)" site_has_master
# The trees both machines are compared over: what the fixture wrote, plus
# the xCAT repos and their apt sources.
(cd /tmp/mn && { find . -mindepth 1 -maxdepth 2; find ./var/lib ./var/log -mindepth 1 -maxdepth 1; } | sed 's|^\.||' |
    grep -vE '^/(usr|bin|tmp)(/|$)|^/etc/(passwd|group|shadow|gshadow|os-release|hostname|apt|resolv.conf|nsswitch.conf)$|^/var/lib/dpkg$|^/(etc|var|var/lib|var/log|home|root|install|srv|opt|install/xcat)$' | sort -u) > /vmtest/trees
echo /install/xcat >> /vmtest/trees
echo /etc/apt/sources.list.d >> /vmtest/trees
check "A: trees to compare listed" test "$(wc -l < /vmtest/trees)" -gt 10

stage "A: record state, then xcatexport"
record_state /vmtest/stateA $(cat /vmtest/trees)
check "A: DB dump recorded (xcatdb dump)" grep -q '^== site.csv' /vmtest/stateA/db
check "A: xcatd dump recorded" grep -q '^== nodelist' /vmtest/stateA/xcatd-dump
export XCATPORT_IMPORT_BINARY=/vmtest/bin/xcatimport-static
t0=$(date +%s)
/vmtest/bin/xcatexport ${EXPORT_ARGS:-} /media/stick > /vmtest/export.out 2>&1
rc=$?
echo "export took $(( $(date +%s) - t0 )) s"
sed 's/^/    | export: /' /vmtest/export.out | tail -n 5
check_eq "A: xcatexport /media/stick exits 0" 0 "$rc"
check "A: stick has SHA256SUMS (written last)" test -s /media/stick/SHA256SUMS
check "A: stick has MANIFEST.json" test -s /media/stick/MANIFEST.json
check "A: stick has xcatimport, executable from vfat" test -x /media/stick/xcatimport
check "A: no partial staging dir left on the stick" test ! -e /media/stick/.xcatport-partial
if [ -n "${SPLIT_STICK:-}" ]; then
    mount_stick "" 1 /media/stick2 || exit 1
    # The second stick is also read back from the device (a real FAT
    # filesystem on an emulated USB disk), not from the page cache.
    /vmtest/bin/xcatexport --split "$SPLIT_STICK" --verify-media /media/stick2 > /vmtest/export-split.out 2>&1
    rc=$?
    sed 's/^/    | export --split: /' /vmtest/export-split.out | tail -n 3
    check_eq "A: xcatexport --split $SPLIT_STICK --verify-media /media/stick2 exits 0" 0 "$rc"
    check "A: the split stick was read back from the media" grep -q 'verified (read back from the media)' /vmtest/export-split.out
    check "A: the split stick holds several data volumes (.000, .001, …)" sh -c 'ls /media/stick2/xcat-data.tar.zst.001'
    check "A: every split volume is at most $SPLIT_STICK" sh -c '! find /media/stick2 -name "xcat-data.tar*" -size +1024k | grep -q .'
fi
sync
