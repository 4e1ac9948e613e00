#!/usr/bin/env bash
# Line and branch coverage per module (src/<module>/) and per file, from the
# gcov data of a --coverage build, with Debian's gcovr.
# Usage: coverage.sh BUILD_DIR [FILE...]   (FILEs: print those files only)
set -euo pipefail
build=$1
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
gcovr -r . --object-directory "$build" --filter 'src/' --exclude-unreachable-branches \
	--json-summary -o "$out" 2>/dev/null
/usr/bin/python3 - "$out" "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
only = set(sys.argv[2:])
mods = {}
def pct(c, t):
    return f"{100.0 * c / t:5.1f}%" if t else "    -"
rows = []
for f in d["files"]:
    name = f["filename"]
    parts = name.split("/")
    mod = parts[1] if len(parts) > 2 else "(top)"
    m = mods.setdefault(mod, [0, 0, 0, 0])
    m[0] += f["line_covered"]; m[1] += f["line_total"]
    m[2] += f["branch_covered"]; m[3] += f["branch_total"]
    if not only or name in only:
        rows.append((name, f))
print(f"{'module':<12} {'lines':>7} {'line%':>7} {'branches':>9} {'branch%':>7}")
for mod in sorted(mods):
    lc, lt, bc, bt = mods[mod]
    print(f"{mod:<12} {lt:>7} {pct(lc, lt):>7} {bt:>9} {pct(bc, bt):>7}")
print(f"{'total':<12} {d['line_total']:>7} {pct(d['line_covered'], d['line_total']):>7} "
      f"{d['branch_total']:>9} {pct(d['branch_covered'], d['branch_total']):>7}")
print()
print(f"{'file':<32} {'lines':>7} {'line%':>7} {'branches':>9} {'branch%':>7}")
for name, f in rows:
    print(f"{name:<32} {f['line_total']:>7} {pct(f['line_covered'], f['line_total']):>7} "
          f"{f['branch_total']:>9} {pct(f['branch_covered'], f['branch_total']):>7}")
PY
