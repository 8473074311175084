#!/usr/bin/env python3
"""Compares the state two guests recorded (guest-lib.sh record_state).

compare-state.py A_DIR B_DIR MEMBERS ASPECT [--absent-ok]
  ASPECT: meta (type, mode, owner and group names, size, link target),
          content (sha256), mtime (non-directories), xattrs.
--absent-ok: a path absent on both sides is equal (before/after checks).
Only paths in MEMBERS (the snapshot's data members, one per line) count.
Prints each difference (at most 20) and exits 1 when there is any.
"""
import sys


def norm(p):
    p = p.strip()
    while p.startswith('./'):
        p = p[2:]
    return p.strip('/')


def listing(d):
    out = {}
    with open(d + '/list.raw', encoding='utf-8', errors='surrogateescape') as f:
        for line in f:
            parts = line.rstrip('\n').split('|')
            if len(parts) < 8:
                continue
            path, typ, mode, user, group, size, mtime = parts[:7]
            link = '|'.join(parts[7:])
            out[norm(path)] = {
                'meta': (typ, mode, user, group, size if typ == 'f' else '-', link),
                'mtime': mtime.split('.')[0] if typ != 'd' else '-',
            }
    return out


def sums(d):
    out = {}
    with open(d + '/sums', encoding='utf-8', errors='surrogateescape') as f:
        for line in f:
            digest, _, path = line.rstrip('\n').partition('  ')
            out[norm(path)] = digest
    return out


def xattrs(d):
    out, cur = {}, None
    with open(d + '/xattrs', encoding='utf-8', errors='surrogateescape') as f:
        for line in f:
            line = line.rstrip('\n')
            if line.startswith('# file: '):
                cur = norm(line[8:])
                out.setdefault(cur, [])
            elif line and cur is not None:
                out[cur].append(line)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def main():
    a_dir, b_dir, members_file, aspect = sys.argv[1:5]
    absent_ok = '--absent-ok' in sys.argv[5:]
    with open(members_file, encoding='utf-8', errors='surrogateescape') as f:
        members = {norm(l) for l in f if norm(l) and not norm(l).startswith('.xcatport')}
    if aspect in ('meta', 'mtime'):
        a, b = listing(a_dir), listing(b_dir)
        get = lambda m, p: m.get(p, {}).get(aspect) if p in m else None
    elif aspect == 'content':
        a, b = sums(a_dir), sums(b_dir)
        get = lambda m, p: m.get(p)
    elif aspect == 'xattrs':
        a, b = xattrs(a_dir), xattrs(b_dir)
        get = lambda m, p: m.get(p, ())
    else:
        sys.exit('unknown aspect ' + aspect)
    diffs, compared, unlisted = [], 0, 0
    for p in sorted(members):
        va, vb = get(a, p), get(b, p)
        if absent_ok and va is None and vb is None:
            continue
        if aspect in ('meta', 'mtime') and va is None and not absent_ok:
            unlisted += 1  # outside the trees A recorded (e.g. base-distro files)
            continue
        if aspect == 'content' and va is None:
            continue  # directories and links have no sum
        compared += 1
        if va != vb:
            diffs.append(f'{p}: A {va} / B {vb}')
    for d in diffs[:20]:
        print('    | ' + d)
    if len(diffs) > 20:
        print(f'    | … {len(diffs) - 20} more')
    print(f'    | {aspect}: {compared} paths compared, {len(diffs)} differ, {unlisted} members outside the recorded trees')
    too_few = aspect == 'meta' and not absent_ok and compared < len(members) // 2
    if too_few:
        print(f'    | only {compared} of {len(members)} snapshot members were recorded on A')
    sys.exit(1 if diffs or too_few or (compared == 0 and not absent_ok) else 0)


main()
