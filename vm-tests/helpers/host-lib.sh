# Host side of the scenarios: sourced by vm-tests/run. Assertion lines are
# "ok - [scenario] …" or "FAIL - [scenario] …"; $VMT_RESULTS collects them.
: "${VMT_RESULTS:?}" "${VMT_SHARE:?}" "${VMT_RUN:?}"

pass() { echo "ok - [$SCEN] $*"; echo "ok" >> "$VMT_RESULTS"; }
fail() { echo "FAIL - [$SCEN] $*"; echo "FAIL $SCEN: $*" >> "$VMT_RESULTS"; }

# hcheck DESC CMD…: a host-side assertion.
hcheck() {
    local desc=$1; shift
    local out
    if out=$("$@" 2>&1); then pass "$desc"; [ -n "${VMT_VERBOSE:-}" ] && printf '%s\n' "$out" | sed 's/^/    | /'
    else fail "$desc"; printf '%s\n' "$out" | tail -n 25 | sed 's/^/    | /'; fi
    return 0
}

hcheck_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (expected [$2], got [$3])"; fi; }

# new_job NAME: a fresh job dir holding the shared materials; prints its path.
new_job() {
    local job="$VMT_RUN/$SCEN/$1"
    rm -rf "$job"; mkdir -p "$job"
    cp -al "$VMT_SHARE"/. "$job"/
    echo "$job"
}

# guest JOB LABEL [run-vm options…] SCRIPT: runs SCRIPT in a fresh guest with
# JOB as its share, counts the guest's assertions, returns run-vm's status.
guest() {
    local job=$1 label=$2; shift 2
    local rc=0 t0 t1
    t0=$(date +%s)
    "$VMT_DIR/run-vm" --quiet --job "$job" "$@" > /dev/null 2> "$job/run-vm.err" || rc=$?
    t1=$(date +%s)
    echo "   ($label: $((t1 - t0)) s, exit $rc)"
    echo "$SCEN $label $((t1 - t0))" >> "$VMT_RUN/times"
    if [ -f "$job/out.log" ]; then
        grep -E '^(ok|FAIL) - |^    \| |^## ' "$job/out.log" | sed -E "s/^(ok|FAIL) - /\1 - [$SCEN] /"
        grep -E '^(ok|FAIL) - ' "$job/out.log" | sed -E "s/^(ok|FAIL) - (.*)/\1 $SCEN: \2/" >> "$VMT_RESULTS"
    fi
    return $rc
}

# guest_ran JOB LABEL RC [EXPECTED_RC]: asserts the guest script ran to its end.
guest_ran() {
    local job=$1 label=$2 rc=$3 want=${4:-0}
    if [ "$rc" = "$want" ] && grep -q '^guest assertions failed:' "$job/out.log" 2>/dev/null; then
        pass "$label: guest script ran to the end (exit $rc)"
    elif [ "$rc" != "$want" ] && grep -q '^guest assertions failed: [1-9]' "$job/out.log" 2>/dev/null && [ "$want" = 0 ]; then
        pass "$label: guest script ran to the end (its failed assertions are counted above)"
    else
        fail "$label: guest script ran to the end (exit $rc, wanted $want; job dir $job)"
        tail -n 30 "$job/out.log" 2>/dev/null | sed 's/^/    | out.log: /'
        sed 's/^/    | /' "$job/run-vm.err" 2>/dev/null | tail -n 45
    fi
}

# stick_extract IMG DIR: copies every file of the stick to DIR (host side).
stick_extract() {
    rm -rf "$2"; mkdir -p "$2"
    if [ "$("$VMT_DIR/mkstick" fstype "$1")" = vfat ]; then
        MTOOLS_SKIP_CHECK=1 mcopy -s -n -i "$1@@1048576" '::/*' "$2/"
    else
        debugfs -R "rdump / $2" "$1?offset=1048576" 2>/dev/null
    fi
}

# data_members DIR: the member paths of the stick's data stream.
data_members() {
    local first
    first=$(ls "$1" | grep -E '^xcat-data\.tar' | sort | head -1)
    case "$first" in
        *.zst*) cat "$1"/xcat-data.tar.zst* | zstd -dcq | tar -tf - ;;
        *.xz*) cat "$1"/xcat-data.tar.xz* | xz -dc | tar -tf - ;;
        *) cat "$1"/xcat-data.tar* | tar -tf - ;;
    esac
}

# factory: guest A once per run (scenario a asserts on it; the others reuse
# its sticks). Leaves $VMT_RUN/factory/{stick.img,stick-split.img,A/…,members}.
FACTORY="$VMT_RUN/factory"
factory() {
    [ -f "$FACTORY/done" ] && return 0
    mkdir -p "$FACTORY"
    "$VMT_DIR/mkstick" "$FACTORY/stick.img" 768M vfat XCATSTICK
    "$VMT_DIR/mkstick" "$FACTORY/stick-split.img" 768M vfat XCATSPLIT
    local job; job=$(SCEN=factory new_job A)
    cat > "$job/a.sh" <<'EOS'
. /vmtest/guest-lib.sh
SPLIT_STICK=1M
. /vmtest/guest-a.sh
finish
EOS
    local rc=0
    guest "$job" A --usb-stick "$FACTORY/stick.img" --usb-stick "$FACTORY/stick-split.img" --timeout 900 "$job/a.sh" || rc=$?
    guest_ran "$job" A "$rc"
    stick_extract "$FACTORY/stick.img" "$FACTORY/stickfiles"
    stick_extract "$FACTORY/stick-split.img" "$FACTORY/splitfiles"
    data_members "$FACTORY/stickfiles" | sort > "$FACTORY/members" || true
    touch "$FACTORY/done"
}

# restore_on_b LABEL STICK_SPEC STICK_MODE [IMPORT_ARGS]: a fresh B restores
# from the stick; then every comparison with A.
restore_on_b() {
    local label=$1 stick=$2 mode=$3 import_args=${4:-}
    local job; job=$(new_job "$label")
    cp "$FACTORY/A/fixture-accounts" "$FACTORY/A/trees" "$job/"
    cat > "$job/b.sh" <<EOS
. /vmtest/guest-lib.sh
STICK_MODE=$mode
IMPORT_ARGS="$import_args"
. /vmtest/guest-b.sh
"\${IMPORT[@]}" > /vmtest/import.out 2>&1
rc=\$?
sed 's/^/    | import: /' /vmtest/import.out | tail -n 12
check_eq "B: xcatimport --yes exits 0" 0 "\$rc"
. /vmtest/guest-b-after.sh
finish
EOS
    # Each guest gets its own copy: qemu locks an image against a second user.
    local ro=""; case "$stick" in *:ro) ro=":ro"; stick=${stick%:ro} ;; esac
    cp --sparse=always "$stick" "$job/stick.img"
    local rc=0
    guest "$job" "$label" --usb-stick "$job/stick.img$ro" --timeout 900 "$job/b.sh" || rc=$?
    guest_ran "$job" "$label" "$rc"
    compare_with_a "$label" "$job/stateB"
}

# compare_with_a LABEL STATE_DIR: B's state equals A's over the snapshot.
compare_with_a() {
    local label=$1 b=$2 a="$FACTORY/A/stateA" m="$FACTORY/members"
    local aspect
    for aspect in meta content mtime xattrs; do
        hcheck "$label equals A: $aspect of every snapshot member" python3 "$VMT_DIR/helpers/compare-state.py" "$a" "$b" "$m" "$aspect"
    done
    hcheck "$label equals A: database (xcatdb dump)" diff "$a/db" "$b/db"
    hcheck "$label equals A: what the running xcatd serves from the DB" diff "$a/xcatd-dump" "$b/xcatd-dump"
    hcheck "$label equals A: the certificates xcatd sees" diff "$a/xcatd-certs" "$b/xcatd-certs"
    hcheck "$label equals A: xCAT package set (name, version, state)" diff \
        <(grep -E '^(xcat|perl-xcat|goconserver|socat|sqlite3)' "$a/packages") \
        <(grep -E '^(xcat|perl-xcat|goconserver|socat|sqlite3)' "$b/packages" 2>/dev/null)
}

# factory_ok: the sticks exist; otherwise one failure for the scenario.
factory_ok() {
    if [ -s "$FACTORY/stickfiles/SHA256SUMS" ] && [ -s "$FACTORY/A/stateA/list.raw" ]; then return 0; fi
    fail "guest A did not write a complete stick; nothing to restore (see the factory output)"
    return 1
}
