#!/usr/bin/env bash
# sentinel detect: a timestamp,value CSV in, NAB's results format out (one
# line per row, the probation scored 0), a planted spike scored highest,
# the same output twice, bad input refused with its line.
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1
# A daily sine at 30-minute steps with seeded noise; a spike at row 1500.
/usr/bin/python3 - "$TMP/in.csv" <<'PY'
import math, random, sys, datetime
random.seed(7)
t0 = datetime.datetime(2024, 1, 1)
with open(sys.argv[1], "w") as f:
    f.write("timestamp,value\n")
    for i in range(2000):
        v = 50 + 10 * math.sin(2 * math.pi * i / 48) + random.uniform(-0.5, 0.5)
        if i == 1500:
            v += 40
        ts = t0 + datetime.timedelta(minutes=30 * i)
        f.write("%s,%.3f\n" % (ts.strftime("%Y-%m-%d %H:%M:%S"), v))
PY
ok $? "synthetic series written"

"$SENTINEL_BIN" detect --probation 300 <"$TMP/in.csv" >"$TMP/out1.csv" 2>"$TMP/err1"
ok $? "detect exits 0"
is "$(head -1 "$TMP/out1.csv")" "timestamp,value,anomaly_score" "NAB's results header"
is "$(wc -l <"$TMP/out1.csv")" 2001 "one line per input row"
is "$(cut -d, -f1,2 "$TMP/out1.csv" | tail -n +2)" "$(tail -n +2 "$TMP/in.csv")" "timestamps and values passed through"
is "$(sed -n '2,301p' "$TMP/out1.csv" | cut -d, -f3 | sort -u)" 0 "no score during the probation"
top=$(tail -n +2 "$TMP/out1.csv" | awk -F, '{print NR - 1, $3}' | sort -k2,2gr -k1,1n | head -1 | cut -d' ' -f1)
is "$top" 1500 "the planted spike has the highest score"
awk -F, 'NR > 1 && ($3 < 0 || $3 > 1) { bad = 1 } END { exit bad }' "$TMP/out1.csv"
ok $? "scores in [0, 1]"

"$SENTINEL_BIN" detect --probation 300 <"$TMP/in.csv" >"$TMP/out2.csv" 2>&1
cmp -s "$TMP/out1.csv" "$TMP/out2.csv"
ok $? "the same input gives the same output"
"$SENTINEL_BIN" detect --probation 300 --seed 9 --verbose <"$TMP/in.csv" >"$TMP/out3.csv" 2>&1
is "$(head -1 "$TMP/out3.csv")" "timestamp,value,anomaly_score,raw,likelihood,flag" "--verbose adds columns"
is "$(awk -F, 'NR > 1 && $6 == 1 { print NR - 2 }' "$TMP/out3.csv" | head -1)" 1500 "the spike is the first flag"

printf 'timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:30:00,abc\n' |
	"$SENTINEL_BIN" detect --probation 30 >/dev/null 2>"$TMP/err4"
is $? 1 "a bad value exits 1"
like "$(cat "$TMP/err4")" "line 3: value is not a finite number" "the bad line is named"
printf 'timestamp,value\nyesterday,1\n' | "$SENTINEL_BIN" detect --probation 30 >/dev/null 2>"$TMP/err5"
like "$(cat "$TMP/err5")" "line 2: bad timestamp" "a bad timestamp is named"
"$SENTINEL_BIN" detect --window 1 </dev/null >/dev/null 2>"$TMP/err6"
is $? 2 "a bad option exits 2"
like "$(cat "$TMP/err6")" "window" "the option is named"
ok "$(! grep -Eq -- "$SANITIZER_RE" "$TMP"/err*; echo $?)" "no sanitizer report"
done_testing
