# e. read-only stick: the USB device is write-protected (qemu readonly=on)
# and mounted ro; the restore never writes the stick.
factory
factory_ok || return 0
f=$FACTORY
cp --sparse=always "$f/stick.img" "$VMT_RUN/$SCEN-stick.img"
before=$(sha256sum < "$VMT_RUN/$SCEN-stick.img")
restore_on_b B "$VMT_RUN/$SCEN-stick.img:ro" ro
hcheck_eq "the stick image is bit-for-bit unchanged" "$before" "$(sha256sum < "$VMT_RUN/$SCEN/B/stick.img")"
