#!/usr/bin/env python3
"""Helpers for scripts/bench (Python 3 standard library only).

Subcommands:
  tarlist [--skip-prefix P | --only-prefix P]...
                                 read a tar stream on stdin, write its member
                                 names NUL-separated on stdout (exact bytes),
                                 leaving out (or keeping only) those under P
  sizeof ROOT LIST               bytes of the regular files in LIST (NUL-separated,
                                 relative to ROOT), hardlinks counted once
  compare ROOT_A ROOT_B LIST     same type, mode, size, mtime and link target for
                                 every LIST entry under both roots; exit 1 on the
                                 first differences (printed)
  samefiles ROOT_A ROOT_B LIST   image scenario: every regular file of LIST has
                                 the same mode, size, mtime and bytes under both
                                 roots (directories are made by imgimport, not
                                 restored, so their mtimes are not compared)
  mktree DIR COUNT SEED          COUNT small files (0-511 bytes) in directories
                                 of 1,000 under DIR
  copytree SRC DST               copy SRC (hardlinks, symlinks, modes, mtimes)
  mkimage DIR SIZE [SEED]        replace the netboot image in DIR (kernel,
                                 initrd-stateless.gz, rootimg.cpio.gz) by ones
                                 of SIZE bytes in all (suffix K, M or G): real
                                 gzip'd newc cpio archives of text, ELF-like and
                                 already-compressed files, as genimage makes
  report SAMPLES [--json] [--meta K=V]... [--record FILE]
                                 median/min per scenario and tool, ratios to our
                                 command, the issue targets; Markdown or JSON
  scaling SAMPLES [--json]       how time and memory grow across --scaling steps
"""

import json
import os
import random
import shutil
import stat
import statistics
import sys
import tarfile
import zlib


def read_list(path):
    with open(path, "rb") as f:
        return [p for p in f.read().split(b"\0") if p]


def cmd_tarlist(args):
    skips = [v.encode() for k, v in zip(args[::2], args[1::2]) if k == "--skip-prefix"]
    keeps = [v.encode() for k, v in zip(args[::2], args[1::2]) if k == "--only-prefix"]
    under = lambda name, prefixes: any(name == p.rstrip(b"/") or name.startswith(p) for p in prefixes)
    out = sys.stdout.buffer
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|", encoding="utf-8",
                      errors="surrogateescape") as tar:
        for member in tar:
            name = member.name.encode("utf-8", "surrogateescape")
            if under(name, skips) or (keeps and not under(name, keeps)):
                continue
            out.write(name + b"\0")
    return 0


def cmd_sizeof(args):
    root, listing = os.fsencode(args[0]), args[1]
    seen, total = set(), 0
    for rel in read_list(listing):
        st = os.lstat(os.path.join(root, rel))
        if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    print(total)
    return 0


def describe(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    kind = stat.S_IFMT(st.st_mode)
    parts = [oct(st.st_mode)]
    if stat.S_ISREG(kind):
        parts += [str(st.st_size), str(int(st.st_mtime))]
    elif stat.S_ISLNK(kind):
        parts += [os.fsdecode(os.readlink(path))]
    elif stat.S_ISDIR(kind):
        parts += [str(int(st.st_mtime))]
    return " ".join(parts)


def cmd_compare(args):
    a, b, listing = os.fsencode(args[0]), os.fsencode(args[1]), args[2]
    bad = 0
    entries = read_list(listing)
    for rel in entries:
        da, db = describe(os.path.join(a, rel)), describe(os.path.join(b, rel))
        if da != db:
            bad += 1
            if bad <= 5:
                print(f"differs: {os.fsdecode(rel)}: {da} vs {db}", file=sys.stderr)
    if bad:
        print(f"{bad} of {len(entries)} entries differ between {args[0]} and {args[1]}",
              file=sys.stderr)
        return 1
    print(len(entries))
    return 0


def file_digest(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cmd_samefiles(args):
    a, b, listing = os.fsencode(args[0]), os.fsencode(args[1]), args[2]
    bad = files = 0
    for rel in read_list(listing):
        pa, pb = os.path.join(a, rel), os.path.join(b, rel)
        if not os.path.isfile(pa) or os.path.islink(pa):
            continue
        files += 1
        da, db = describe(pa), describe(pb)
        if da == db and file_digest(pa) != file_digest(pb):
            da, db = da + " (bytes)", db + " (other bytes)"
        if da != db:
            bad += 1
            if bad <= 5:
                print(f"differs: {os.fsdecode(rel)}: {da} vs {db}", file=sys.stderr)
    if bad or not files:
        print(f"{bad} of {files} files differ between {args[0]} and {args[1]}", file=sys.stderr)
        return 1
    print(files)
    return 0


def cmd_mktree(args):
    top, count, seed = args[0], int(args[1]), int(args[2])
    rng = random.Random(seed)
    blob = bytes(rng.getrandbits(8) for _ in range(4096))
    for i in range(count):
        d = os.path.join(top, f"d{i // 1000:04d}")
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        size = rng.randrange(512)
        start = rng.randrange(len(blob) - size)
        fd = os.open(os.path.join(d, f"f{i % 1000:03d}.conf"),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, blob[start:start + size])
        finally:
            os.close(fd)
    return 0


def cmd_copytree(args):
    shutil.copytree(args[0], args[1], symlinks=True, copy_function=shutil.copy2)
    return 0


# --- big netboot image -----------------------------------------------------
# A real rootimg holds text (configs, scripts, docs), executables and
# libraries, and files that are already compressed (modules, firmware,
# packages). The pools below give level-6 ratios of about 4.6 (text) and
# 3.9 (ELF-like); each file is a slice of its pool at a random offset, so
# gzip's 32 KiB window sees no more repetition than the pool itself has.
# Already-compressed files become stored gzip members, which is what
# gzip -1 makes of them, without deflate's slow search through random bytes.

IMAGE_SEGMENT = 16 << 20          # uncompressed cpio bytes per gzip member group
POOL = 8 << 20
_pools = {}


def _image_pools(seed):
    if seed in _pools:
        return _pools[seed]
    r = random.Random(seed)
    letters = "etaoinshrdlucmfwypvbgkqjxz"
    more = letters + "_-./0123456789"

    def word():
        alphabet = letters if r.random() < 0.85 else more
        return "".join(r.choice(alphabet) for _ in range(r.choice((2, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9, 11))))
    vocab = [word() for _ in range(20000)]
    lines, size = [], 0
    while size < POOL:
        s = " ".join(vocab[min(int(r.paretovariate(0.6)) - 1, 19999)] for _ in range(r.randrange(2, 14)))
        if r.random() < 0.3:
            s = "    " + s
        if r.random() < 0.1:
            s = "# " + s
        lines.append(s)
        size += len(s) + 1
    text = ("\n".join(lines) + "\n").encode()
    ops = [r.randbytes(r.choice((2, 3, 4, 5, 6, 7))) for _ in range(400)]
    parts, size = [], 0
    while size < POOL:
        x = r.random()
        if x < 0.06:
            b = bytes(r.choice((8, 16, 32, 64, 256, 1024)))
        elif x < 0.30:
            b = r.randbytes(r.randrange(8, 64))
        elif x < 0.34:
            o = r.randrange(len(text) - 200)
            b = text[o:o + r.randrange(8, 120)] + b"\0"
        else:
            b = b"".join(ops[min(int(r.paretovariate(0.9)) - 1, 399)] for _ in range(r.randrange(4, 24)))
        parts.append(b)
        size += len(b)
    elf = b"\x7fELF\x02\x01\x01" + bytes(9) + b"".join(parts)
    _pools[seed] = (text, elf)
    return _pools[seed]


def _cpio_header(name, mode, size, ino):
    name = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 1700000000, size, 0, 0, 0, 0, len(name), 0)
    h = b"070701" + b"".join(b"%08X" % f for f in fields) + name
    return h + bytes(-len(h) % 4)


def _member(data, level):
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def _image_segment(job):
    """One segment of the cpio stream as gzip members: (members, input bytes)."""
    seed, index = job
    text, elf = _image_pools(seed)
    r = random.Random(seed * 1_000_003 + index)
    out, pending, used = [], [], 0

    def flush():
        if pending:
            out.append(_member(b"".join(pending), 1))
            pending.clear()
    d = f"usr/lib/seg{index:05d}"
    pending.append(_cpio_header(d, 0o40755, 0, index << 16))
    ino = (index << 16) + 1
    while used < IMAGE_SEGMENT:
        x = r.random()
        if x < 0.20:
            kind, size = "conf", min(int(r.paretovariate(1.2) * 2048), 1 << 20)
        elif x < 0.65:
            kind, size = "so", min(int(r.paretovariate(1.1) * 16384), 4 << 20)
        else:
            kind, size = "ko.xz", min(int(r.paretovariate(1.1) * 16384), 4 << 20)
        name = f"{d}/f{ino & 0xffff:05d}.{kind}"
        head = _cpio_header(name, 0o100644 if kind != "so" else 0o100755, size, ino)
        ino += 1
        pad = bytes(-size % 4)
        if kind == "ko.xz":
            pending.append(head)
            flush()
            out.append(_member(r.randbytes(size) + pad, 0))
        else:
            pool = text if kind == "conf" else elf
            o = r.randrange(len(pool) - size)
            pending.append(head + pool[o:o + size] + pad)
        used += len(head) + size + len(pad)
    flush()
    return out, used


def _write_gz_cpio(path, target, seed, pool):
    """A gzip'd newc cpio of about `target` compressed bytes, written at `path`."""
    written = 0
    with open(path, "wb") as f:
        index = 0
        while written < target:
            jobs = [(seed, index + k) for k in range(8)]
            index += len(jobs)
            # Whole segments only, so every cpio entry is complete.
            for members, _ in pool.imap(_image_segment, jobs):
                if written >= target:
                    break
                for m in members:
                    f.write(m)
                    written += len(m)
        f.write(_member(_cpio_header("TRAILER!!!", 0, 0, 0), 1))
    return written


def parse_size(s):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s and s[-1].upper() in units:
        return int(float(s[:-1]) * units[s[-1].upper()])
    return int(s)


def cmd_mkimage(args):
    import multiprocessing
    top, total = args[0], parse_size(args[1])
    seed = int(args[2]) if len(args) > 2 else 11
    if total < 64 << 20:
        raise ValueError(f"image size {args[1]}: at least 64M")
    text, elf = _image_pools(seed)
    r = random.Random(seed)
    kernel = 12 << 20
    with open(os.path.join(top, "kernel"), "wb") as f:
        # A bzImage: setup code and an uncompressed stub, then the packed kernel.
        f.write(elf[:2 << 20])
        f.write(r.randbytes(kernel - (2 << 20)))
    initrd = max(total // 32, 8 << 20)
    with multiprocessing.Pool(min(os.cpu_count() or 1, 4)) as pool:
        n = _write_gz_cpio(os.path.join(top, "initrd-stateless.gz"), initrd, seed + 1, pool)
        _write_gz_cpio(os.path.join(top, "rootimg.cpio.gz"), total - kernel - n, seed + 2, pool)
    return 0


# --- reporting -------------------------------------------------------------

FIELDS = ["scenario", "tool", "label", "rep", "seconds", "rss_kb", "bytes_in",
          "bytes_out", "data_bytes", "status", "note"]


def load_samples(path):
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != len(FIELDS):
                continue
            row = dict(zip(FIELDS, parts))
            for k in ("rep", "rss_kb", "bytes_in", "bytes_out", "data_bytes"):
                row[k] = int(row[k]) if row[k] not in ("", "-") else None
            row["seconds"] = float(row["seconds"]) if row["seconds"] not in ("", "-") else None
            rows.append(row)
    return rows


def summarise(rows):
    """One record per (scenario, tool), in the order they first appear."""
    order, groups = [], {}
    for r in rows:
        key = (r["scenario"], r["tool"])
        if key not in groups:
            order.append(key)
            groups[key] = []
        groups[key].append(r)
    out = []
    for key in order:
        g = groups[key]
        ok = [r for r in g if r["status"] == "ok" and r["seconds"] is not None]
        bad = [r for r in g if r["status"] != "ok"]
        rec = {"scenario": key[0], "tool": key[1], "label": g[0]["label"],
               "reps": len(ok), "status": bad[0]["status"] if bad else "ok",
               "note": next((r["note"] for r in g if r["note"] not in ("", "-")), "")}
        if ok:
            secs = [r["seconds"] for r in ok]
            last = ok[-1]
            rec.update({
                "median_s": statistics.median(secs), "min_s": min(secs),
                "peak_rss_kib": max(r["rss_kb"] or 0 for r in ok),
                "bytes_in": last["bytes_in"], "bytes_out": last["bytes_out"],
                "data_bytes": last["data_bytes"],
            })
            med = rec["median_s"]
            rec["mb_per_s"] = (last["data_bytes"] / med / 1e6) if last["data_bytes"] and med > 0 else None
        out.append(rec)
    ours = {r["scenario"]: r for r in out if r["tool"] == "ours" and r.get("median_s")}
    for r in out:
        o = ours.get(r["scenario"])
        if r["tool"] != "ours" and o and r.get("median_s"):
            # > 1: our command takes less time than this baseline.
            r["speedup_of_ours"] = r["median_s"] / o["median_s"]
    return out


def find(recs, scenario, tool):
    return next((r for r in recs if r["scenario"] == scenario and r["tool"] == tool
                 and r.get("median_s")), None)


def targets(recs, meta):
    """The targets of issues 4, 5, 6 and 7, checked against this run."""
    checks = []

    def check(issue, what, measured, ok):
        checks.append({"issue": issue, "target": what, "measured": measured,
                       "met": bool(ok)})

    ours, zstd, gzip = (find(recs, "export", t) for t in ("ours", "zstd", "gzip"))
    if ours and zstd:
        s = zstd["median_s"] / ours["median_s"]
        check(6, "export at least as fast as tar | zstd -T0 -3 (stretch 1.5x)", f"{s:.2f}x", s >= 1.0)
        if ours["bytes_out"] is not None and zstd["bytes_out"] is not None:
            check(6, "export data stream no larger than tar | zstd -T0 -3",
                  f"{ours['bytes_out']:,} vs {zstd['bytes_out']:,} bytes",
                  ours["bytes_out"] <= zstd["bytes_out"])
    if ours and gzip:
        s = gzip["median_s"] / ours["median_s"]
        check(6, "export at least 5x faster than tar czf", f"{s:.2f}x", s >= 5.0)
    if ours:
        mib = ours["peak_rss_kib"] / 1024
        check(6, "export peak RSS under 100 MiB", f"{mib:.1f} MiB", mib < 100)
    # Not an issue's target, shown beside it: xcatexport syncs and re-reads
    # before it calls a stick done, so the baseline that also syncs is the
    # one doing the same durable work.
    ours, synced = find(recs, "export", "ours"), find(recs, "export", "zstd-sync")
    if ours and synced:
        s = synced["median_s"] / ours["median_s"]
        check("6 (info)", "export vs tar | zstd -T0 -3; sync -f (both durable)", f"{s:.2f}x", s >= 1.0)
    ours, zstd = find(recs, "restore", "ours"), find(recs, "restore", "zstd")
    if ours and zstd:
        s = ours["median_s"] / zstd["median_s"]
        check(7, "restore within 1.2x of zstd -dc | tar -x", f"{s:.2f}x its time", s <= 1.2)
    synced = find(recs, "restore", "zstd-sync")
    if ours and synced:
        s = ours["median_s"] / synced["median_s"]
        check("7 (info)", "restore vs zstd -dc | tar -x; sync -f (both durable)", f"{s:.2f}x its time", s <= 1.2)
    ours, gzip = find(recs, "imgexport", "ours"), find(recs, "imgexport", "gzip")
    if ours and gzip:
        s = gzip["median_s"] / ours["median_s"]
        size = human(ours.get("data_bytes"))
        check(5, f"imgexport ({size} image, issue asks ~2 GB) at least 2x faster than tar czf",
              f"{s:.2f}x", s >= 2.0)
    ours, gzip = find(recs, "imgimport", "ours"), find(recs, "imgimport", "gzip")
    if ours and gzip:
        s = ours["median_s"] / gzip["median_s"]
        check(5, "imgimport no slower than tar xzf", f"{s:.2f}x its time", s <= 1.0)
    nodes = meta.get("db_nodes", "")
    for scen, limit in (("db-dump", 5.0), ("db-restore", 10.0)):
        o = find(recs, scen, "ours")
        if o:
            check(4, f"{scen.replace('db-', 'xcatdb ')} of {nodes} nodes under {limit:g} s",
                  f"{o['median_s']:.2f} s", o["median_s"] < limit)
    return checks


def human(n):
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0


def markdown(recs, checks, meta):
    lines = []
    head = ", ".join(f"{k} {v}" for k, v in meta.items())
    lines.append(f"xcatport benchmarks: {head}")
    lines.append("")
    lines.append("| scenario | command | median s | min s | MB/s | in | out | peak RSS | ours vs this |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in recs:
        label = r["label"].replace("|", "\\|")
        if not r.get("median_s"):
            what = r["status"] if r["status"] != "ok" else "no result"
            note = f" ({r['note']})" if r["note"] else ""
            lines.append(f"| {r['scenario']} | {label} | {what}{note} | | | | | | |")
            continue
        mbs = f"{r['mb_per_s']:.0f}" if r.get("mb_per_s") else "-"
        rss = f"{r['peak_rss_kib'] / 1024:.1f} MiB"
        ratio = f"{r['speedup_of_ours']:.2f}x faster" if r.get("speedup_of_ours") else "-"
        lines.append(f"| {r['scenario']} | {label} | {r['median_s']:.3f} | {r['min_s']:.3f} | {mbs} | "
                     f"{human(r['bytes_in'])} | {human(r['bytes_out'])} | {rss} | {ratio} |")
    # Baselines repeat the entry count of our row; their notes add nothing.
    notes = [f"- {r['scenario']} / {r['label']}: {r['note']}" for r in recs
             if r["note"] and r.get("median_s") and r["tool"] == "ours"]
    lines.append("")
    lines.append("\"ours vs this\": this command's median time divided by ours (above 1: ours is faster). "
                 "MB/s: uncompressed data bytes over the median time.")
    if notes:
        lines.append("")
        lines += notes
    if checks:
        lines.append("")
        lines.append("| issue | target | measured | met |")
        lines.append("|---:|---|---:|:---:|")
        for c in checks:
            target = c["target"].replace("|", "\\|")
            lines.append(f"| {c['issue']} | {target} | {c['measured']} | {'yes' if c['met'] else '**no**'} |")
        lines.append("")
        lines.append("The issues set these targets on the large synthetic MN; smaller scales only indicate.")
        if meta.get("image_size"):
            lines.append(f"The image scenarios ran on a netboot image of {meta['image_size']} (--image-size) "
                         "in a small MN, whatever the scale.")
    return "\n".join(lines) + "\n"


def parse_opts(args):
    opts = {"json": False, "meta": {}, "record": None}
    rest = []
    it = iter(args)
    for a in it:
        if a == "--json":
            opts["json"] = True
        elif a == "--meta":
            k, _, v = next(it).partition("=")
            opts["meta"][k] = v
        elif a == "--record":
            opts["record"] = next(it)
        else:
            rest.append(a)
    return opts, rest


def cmd_report(args):
    opts, rest = parse_opts(args)
    recs = summarise(load_samples(rest[0]))
    checks = targets(recs, opts["meta"])
    text = markdown(recs, checks, opts["meta"])
    if opts["json"]:
        json.dump({"meta": opts["meta"], "results": recs, "targets": checks},
                  sys.stdout, indent=2)
        print()
    else:
        sys.stdout.write(text)
    if opts["record"]:
        with open(opts["record"], "w", encoding="utf-8") as f:
            f.write("# Recorded benchmark results\n\n")
            f.write("Written by `scripts/bench --record`; every figure comes from one run.\n\n")
            f.write(text)
    return 0


def cmd_scaling(args):
    opts, rest = parse_opts(args)
    recs = summarise(load_samples(rest[0]))
    # Scenarios are named "<what> x<factor>"; growth is relative to x1.
    base = {}
    out = []
    # Baseline rows carry no entry count of their own: take our row's.
    counts = {r["scenario"]: r["note"] for r in recs if r["tool"] == "ours"}
    for r in recs:
        what, _, factor = r["scenario"].rpartition(" x")
        if not r.get("median_s"):
            continue
        key = (what, r["tool"])
        if factor == "1":
            base[key] = r
        b = base.get(key)
        out.append({
            "scenario": what, "tool": r["tool"], "label": r["label"], "factor": int(factor),
            "data_bytes": r["data_bytes"], "files": r["note"] or counts.get(r["scenario"], ""), "median_s": r["median_s"],
            "peak_rss_kib": r["peak_rss_kib"],
            "time_growth": r["median_s"] / b["median_s"] if b else None,
            "rss_growth": r["peak_rss_kib"] / b["peak_rss_kib"] if b and b["peak_rss_kib"] else None,
        })
    if opts["json"]:
        json.dump({"meta": opts["meta"], "scaling": out}, sys.stdout, indent=2)
        print()
        return 0
    print(f"xcatport scaling: {', '.join(f'{k} {v}' for k, v in opts['meta'].items())}")
    print()
    print("| scenario | command | size | data | median s | time growth | peak RSS | RSS growth |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in out:
        tg = f"{r['time_growth']:.2f}x" if r["time_growth"] else "-"
        rg = f"{r['rss_growth']:.2f}x" if r["rss_growth"] else "-"
        label = r["label"].replace("|", "\\|")
        print(f"| {r['scenario']} | {label} | x{r['factor']} ({r['files']}) | {human(r['data_bytes'])} | "
              f"{r['median_s']:.3f} | {tg} | {r['peak_rss_kib'] / 1024:.1f} MiB | {rg} |")
    print()
    print("Each step doubles the file count and the data size; ideal growth is 2x and 4x in time, 1x in memory.")
    return 0


COMMANDS = {
    "tarlist": cmd_tarlist, "sizeof": cmd_sizeof, "compare": cmd_compare,
    "samefiles": cmd_samefiles,
    "mktree": cmd_mktree, "mkimage": cmd_mkimage, "copytree": cmd_copytree, "report": cmd_report,
    "scaling": cmd_scaling,
}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return COMMANDS[argv[1]](argv[2:])
    except (OSError, ValueError, tarfile.TarError) as e:
        print(f"benchtool {argv[1]}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
