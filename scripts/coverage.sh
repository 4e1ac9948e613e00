#!/usr/bin/env bash
# Line coverage per source file from the gcov data of a --coverage build.
# Usage: coverage.sh BUILD_DIR [FILE...]  (default: every file under src/)
set -euo pipefail
build=$1
shift
files=("$@")
[ ${#files[@]} -gt 0 ] || mapfile -t files < <(find src -name '*.c' | sort)
total=0 hit=0
printf '%-36s %7s %7s %6s\n' file lines covered pct
for f in "${files[@]}"; do
	obj="$build/${f%.c}.o"
	[ -e "${obj%.o}.gcno" ] || continue
	# gcov prints "Lines executed:NN.NN% of M" for the file itself first.
	line=$(gcov -n -o "$(dirname "$obj")" "$f" 2>/dev/null |
		awk -v f="$f" '$0 == "File '"'"'" f "'"'"'" {getline; print; exit}')
	pct=$(sed -n 's/Lines executed:\([0-9.]*\)% of \([0-9]*\)/\1 \2/p' <<<"$line")
	[ -n "$pct" ] || continue
	read -r p n <<<"$pct"
	c=$(awk -v p="$p" -v n="$n" 'BEGIN {printf "%d", p * n / 100 + 0.5}')
	total=$((total + n)) hit=$((hit + c))
	printf '%-36s %7d %7d %5.1f%%\n' "$f" "$n" "$c" "$p"
done
[ "$total" -gt 0 ] && printf '%-36s %7d %7d %5.1f%%\n' total "$total" "$hit" \
	"$(awk -v h="$hit" -v t="$total" 'BEGIN {print 100 * h / t}')"
