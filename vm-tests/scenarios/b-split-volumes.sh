# b. split volumes: A's second stick was written with --split 1M; a fresh B
# restores from the volumes.
factory
factory_ok || return 0
f=$FACTORY
hcheck "split stick: more than one data volume" test "$(ls "$f/splitfiles" | grep -c '^xcat-data\.tar\.zst\.[0-9][0-9][0-9]$')" -gt 1
hcheck "split stick: SHA256SUMS verifies on the host" sh -c "cd '$f/splitfiles' && sha256sum -c --quiet SHA256SUMS"
hcheck "split stick: the joined volumes are a tar stream with the unsplit stick's members" bash -c "
    diff <(cat '$f'/splitfiles/xcat-data.tar.zst.* | zstd -dcq | tar -tf - | sort) '$f/members'"
restore_on_b B "$f/stick-split.img" rw
