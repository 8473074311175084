# d. preflight refusals in a real machine: a stick with a corrupted volume
# and a stick from another distro release are refused, B unchanged.
factory
factory_ok || return 0
f=$FACTORY
dir="$VMT_RUN/$SCEN"; mkdir -p "$dir"
export MTOOLS_SKIP_CHECK=1
# Corrupted: 16 bytes in the middle of the first data volume flipped.
cp --sparse=always "$f/stick.img" "$dir/corrupt.img"
vol=$(ls "$f/stickfiles" | grep -E '^xcat-data\.tar' | sort | head -1)
cp "$f/stickfiles/$vol" "$dir/vol"
size=$(stat -c %s "$dir/vol")
printf 'CORRUPTED-BYTES!' | dd of="$dir/vol" bs=1 seek=$((size / 2)) conv=notrunc status=none
"$VMT_DIR/mkstick" put "$dir/corrupt.img" "$dir/vol" "/$vol"
hcheck "corrupt stick: the volume on it differs from the original" bash -c "! cmp -s <('$VMT_DIR/mkstick' get '$dir/corrupt.img' '/$vol') '$f/stickfiles/$vol'"
# Other release: MANIFEST.json says Debian 11, and SHA256SUMS agrees with it,
# so only the release check can refuse it.
cp --sparse=always "$f/stick.img" "$dir/other.img"
python3 - "$f/stickfiles/MANIFEST.json" "$dir/MANIFEST.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
hits = 0
def walk(o):
    global hits
    if isinstance(o, dict):
        for k, v in o.items():
            if k == 'distro_version' and isinstance(v, str):
                o[k] = '11'; hits += 1
            else:
                walk(v)
    elif isinstance(o, list):
        for v in o: walk(v)
walk(m)
assert hits, 'no distro_version in MANIFEST.json'
json.dump(m, open(sys.argv[2], 'w'), indent=2)
PY
sum=$(sha256sum "$dir/MANIFEST.json" | cut -d' ' -f1)
sed -E "s|^[0-9a-f]{64}( [ *]?MANIFEST\.json)$|$sum\1|" "$f/stickfiles/SHA256SUMS" > "$dir/SHA256SUMS"
hcheck "other-release stick: SHA256SUMS updated for the edited MANIFEST.json" bash -c "! cmp -s '$dir/SHA256SUMS' '$f/stickfiles/SHA256SUMS'"
"$VMT_DIR/mkstick" put "$dir/other.img" "$dir/MANIFEST.json" /MANIFEST.json
"$VMT_DIR/mkstick" put "$dir/other.img" "$dir/SHA256SUMS" /SHA256SUMS

job=$(new_job B)
cp "$f/A/trees" "$job/"
cat > "$job/b.sh" <<'EOS'
. /vmtest/guest-lib.sh
stage "B: two bad sticks plugged in"
mount_stick rw 0 /media/corrupt || exit 1
mount_stick rw 1 /media/other || exit 1
record_state /vmtest/before $(cat /vmtest/trees)
/media/corrupt/xcatimport --yes > /tmp/c.out 2>&1; rc=$?
sed 's/^/    | corrupt: /' /tmp/c.out | tail -n 4
check "B: corrupted volume: xcatimport exits non-zero" test "$rc" -ne 0
check "B: corrupted volume: the message names the volume and a checksum" sh -c 'grep -q "xcat-data" /tmp/c.out && grep -qi "sha256\|checksum\|mismatch" /tmp/c.out'
check "B: corrupted volume: the message says nothing was changed" grep -q 'nothing was changed' /tmp/c.out
/media/other/xcatimport --yes > /tmp/o.out 2>&1; rc=$?
sed 's/^/    | other release: /' /tmp/o.out | tail -n 4
check "B: other release: xcatimport exits non-zero" test "$rc" -ne 0
check "B: other release: the distro check names both releases" sh -c 'grep -q "distro" /tmp/o.out && grep -q "11" /tmp/o.out && grep -q "12" /tmp/o.out'
check "B: other release: --force-distro is offered" grep -q -- '--force-distro' /tmp/o.out
/media/other/xcatimport --dry-run > /tmp/od.out 2>&1; rc=$?
check "B: other release: --dry-run also refuses" test "$rc" -ne 0
check "B: no journal was created (/var/lib/xcatport absent)" test ! -e /var/lib/xcatport
check "B: xCAT still not installed" sh -c '! dpkg -s xcat >/dev/null 2>&1'
record_state /vmtest/after $(cat /vmtest/trees)
check "B: every file, mode and owner is as before the refusals" cmp /vmtest/before/list.raw /vmtest/after/list.raw
check "B: every file's content is as before the refusals" cmp /vmtest/before/sums /vmtest/after/sums
finish
EOS
rc=0
guest "$job" B --usb-stick "$dir/corrupt.img" --usb-stick "$dir/other.img" --timeout 600 "$job/b.sh" || rc=$?
guest_ran "$job" B "$rc"
