# a. factory → site on a FAT32 USB stick: A exports, a fresh B restores with
# /media/stick/xcatimport --yes; B's files, DB, packages and daemons equal A's.
factory
factory_ok || return 0
f=$FACTORY
hcheck "stick: SHA256SUMS verifies on the host (read back with mtools)" sh -c "cd '$f/stickfiles' && sha256sum -c --quiet SHA256SUMS"
hcheck "stick: partition type is FAT32 LBA (0c)" sh -c "[ \"\$(sfdisk --part-type '$f/stick.img' 1 | tr -d ' ')\" = c ]"
hcheck "stick: data stream lists more than 100 members" test "$(wc -l < "$f/members")" -gt 100
hcheck "stick: the DB dump travels first in the data stream (.xcatport/db/site.csv)" grep -q '^\.xcatport/db/site\.csv$' "$f/members"
hcheck "stick: /etc/xcat/cert is in the snapshot" grep -q '^etc/xcat/cert/' "$f/members"
hcheck "stick: MANIFEST.json records Debian 12, x86_64 and xCAT 2.16.5" python3 -c "
import json,sys; m=json.load(open('$f/stickfiles/MANIFEST.json')); s=json.dumps(m)
assert '\"debian\"' in s and '2.16.5' in s and 'x86_64' in s, s[:400]"
hcheck "stick: xcat-rpms.tar carries the stand-in xcat debs" sh -c "tar -tf '$f/stickfiles/xcat-rpms.tar' | grep -q 'xcat-server_2.16.5'"
hcheck "stick: xcat-rpms.tar carries the dependency debs (socat)" sh -c "tar -tf '$f/stickfiles/xcat-rpms.tar' | grep -q 'socat_'"
hcheck "stick: the xcatimport on it is statically linked" sh -c "file -L '$f/stickfiles/xcatimport' | grep -Eq 'statically linked|static-pie'"
restore_on_b B "$f/stick.img" rw
