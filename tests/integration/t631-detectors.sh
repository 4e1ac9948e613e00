#!/usr/bin/env bash
# Detectors: a synthetic stream of 3 correlated metrics (one sample each per
# minute, 2,400 minutes in the past) with anomalies planted at known
# minutes; a model trained by `sentinel train` on the normal first half;
# a detector created on it and replayed over the second half flags the
# planted minutes with precision and recall >= 0.9 (computed here against
# the planted positions); the scores are stored as anomaly.score and
# anomaly.flag tagged with the detector; the live thread scores closed
# buckets by itself (step 1s); refusals (dimension, access), list, delete.
. "$(dirname "$0")/lib.sh"
S=$SENTINEL_BIN
start_server
TOKEN=$(login admin adminpass123)
mkuser bob bobpass1234 member
mkuser carol carolpass1234 member
BOB=$(login bob bobpass1234)
CAROL=$(login carol carolpass1234)

N=2400
HALF=1200
NOW=$(date +%s%3N)
T0=$(( (NOW / 60000 - N - 10) * 60000 ))
# The stream: a latent sine drives lat, tok and cpu (small noise); at a
# planted minute tok breaks away from lat. Planted: every 37th minute of
# the second half. Deterministic (awk's srand(7)).
awk -v n=$N -v half=$HALF -v t0=$T0 -v dir="$TMP" 'BEGIN {
	srand(7)
	print "lat,tok,cpu" > (dir "/train.csv")
	for (i = 0; i < n; i++) {
		z = sin(i / 17.0) + 0.5 * sin(i / 5.3)
		lat = 100 + 20 * z + rand() * 0.8
		tok = 500 + 80 * z + rand() * 3
		cpu = 40 - 10 * z + rand() * 0.5
		planted = (i >= half && (i - half) % 37 == 18)
		if (planted) { tok += (i % 2 ? 300 : -300); printf "%.0f\n", t0 + i * 60000 > (dir "/planted") }
		if (i < half) print lat "," tok "," cpu > (dir "/train.csv")
		ts = t0 + i * 60000 + 1000
		printf "%s{\"agent\":\"bot\",\"metric\":\"lat\",\"value\":%.6f,\"ts\":%.0f},", (i ? "" : "{\"samples\":["), lat, ts > (dir "/push.json")
		printf "{\"agent\":\"bot\",\"metric\":\"tok\",\"value\":%.6f,\"ts\":%.0f},", tok, ts > (dir "/push.json")
		printf "{\"agent\":\"bot\",\"metric\":\"cpu\",\"value\":%.6f,\"ts\":%.0f}%s", cpu, ts, (i == n - 1 ? "]}" : ",") > (dir "/push.json")
	}
}'
is "$(wc -l <"$TMP/planted")" 32 "32 anomalies planted in the second half"
call POST /api/v1/metrics -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' \
	--data-binary "@$TMP/push.json"
is "$STATUS $(jbody .accepted)" "200 7200" "7,200 samples of agent bot pushed, in the past"

"$S" train --data "$TMP/train.csv" --hidden 6,2,6 --epochs 60 --batch 64 --lr 3e-3 --quantile 1 \
	--out "$TMP/m" --quiet >/dev/null 2>"$TMP/train.err"
ok $? "a model trained on the normal first half"
# The trained threshold is the largest validation error: the noise's tail
# passes it now and then. An operator sets a margin; so does the test
# (normal buckets score ~1e-3, planted ones ~5 and more).
jq '.threshold = 0.1' "$TMP/m/config.json" >"$TMP/c.json" && mv "$TMP/c.json" "$TMP/m/config.json"
call POST /api/v1/models/stream/versions -H "Authorization: Bearer $BOB" \
	-F "model.onnx=@$TMP/m/model.onnx" -F "config.json=@$TMP/m/config.json"
is "$STATUS" 201 "pushed as stream@1"

D=/api/v1/detectors
api POST $D '{"model":"stream@1","agent":"bot","features":["lat","tok"],"step":"1m"}' "$BOB"
is_error 422 invalid "two features for a model of three"
api POST $D '{"model":"stream@1","agent":"bot","features":["lat","tok:avg","cpu load"],"step":"1m"}' "$BOB"
is_error 400 bad_request "a feature that is no metric name"
api POST $D '{"model":"stream@1","agent":"bot","features":["lat","tok","cpu"],"step":"1500ms"}' "$BOB"
is_error 400 bad_request "a step that is not whole seconds"
api POST $D '{"model":"stream@1","agent":"bot","features":["lat","tok","cpu"],"step":"1m"}' "$CAROL"
is "$STATUS" 404 "another member cannot use bob's model"
api POST $D '{"model":"stream@1","agent":"bot","features":["lat","tok:avg","cpu"],"step":"1m"}' "$BOB"
is "$STATUS $(jbody .version) $(jbody .step_ms)" "201 1 60000" "a detector on stream@1, step 1m"
DET=$(jbody .id)

FROM=$((T0 + HALF * 60000))
TO=$((T0 + N * 60000))
api POST "$D/$DET/replay?from=$FROM&to=$TO" "" "$BOB"
is "$STATUS $(jbody .buckets) $(jbody .scored)" "200 1200 1200" "replay of the second half: 1,200 buckets scored"
api GET "$D/$DET/anomalies?from=$FROM&to=$TO" "" "$BOB"
is "$STATUS" 200 "the anomalies"
jbody '.items[].ts' | sort -n >"$TMP/flagged"
TP=$(comm -12 "$TMP/flagged" <(sort -n "$TMP/planted") | wc -l)
FLAGGED=$(wc -l <"$TMP/flagged")
PLANTED=$(wc -l <"$TMP/planted")
diag "flagged $FLAGGED, planted $PLANTED, true positives $TP"
awk -v tp="$TP" -v f="$FLAGGED" 'BEGIN { exit !(f > 0 && tp / f >= 0.9) }'
ok $? "precision >= 0.9"
awk -v tp="$TP" -v p="$PLANTED" 'BEGIN { exit !(tp / p >= 0.9) }'
ok $? "recall >= 0.9"

# ---- SSE: the topic anomaly reaches the detector's owner, not another member ----
anomaly_events() { # TOKEN: the ts of this detector's anomaly events the caller may see, replayed
	curl -s -N --max-time 1 -H "Authorization: Bearer $1" -H 'Last-Event-ID: 0' \
		"$URL/api/v1/events?topic=anomaly" 2>/dev/null | sed -n 's/^data: //p' |
		jq -r --arg d "$DET" 'select(.detector == $d) | .ts'
}
is "$(anomaly_events "$BOB" | sort -n | uniq | wc -l)" "$FLAGGED" "bob's SSE stream has an anomaly event per flagged bucket"
is "$(anomaly_events "$CAROL" | wc -l)" 0 "carol's has none of them"
is "$(anomaly_events "$TOKEN" | sort -n | uniq | wc -l)" "$FLAGGED" "an admin's has them"

api GET "/api/v1/metrics/query?agent=bot&metric=anomaly.flag&tag.detector=$DET&from=$FROM&to=$TO&step=1m&agg=sum" "" "$BOB"
is "$(jbody '[.series[].points[][1]] | add')" "$FLAGGED" "anomaly.flag samples: 1 for each flagged bucket"
api GET "/api/v1/metrics/query?agent=bot&metric=anomaly.score&tag.detector=$DET&from=$FROM&to=$TO&step=1m&agg=count" "" "$BOB"
is "$(jbody '[.series[].points[][1]] | add')" 1200 "anomaly.score: one sample per scored bucket"
# the score of one planted bucket is the model's score of its vector
P1=$(head -n 1 "$TMP/planted")
api GET "$D/$DET/anomalies?from=$P1&to=$((P1 + 60000))" "" "$BOB"
is "$(jbody '.items[0].ts')" "$P1" "the first planted minute is flagged"

api GET $D "" "$BOB"
is "$(jbody '.items | length') $(jbody '.items[0].id')" "1 $DET" "bob lists his detector"
api GET $D "" "$CAROL"
is "$(jbody '.items | length')" 0 "carol lists none"
api GET "$D/$DET/anomalies" "" "$CAROL"
is "$STATUS" 404 "and cannot read its anomalies"

# The live thread: a 1 s detector scores the closed seconds it sees.
api POST $D '{"model":"stream@1","agent":"bot","features":["lat","tok","cpu"],"step":"1s"}' "$BOB"
LIVE=$(jbody .id)
live_scored() {
	local now
	now=$(date +%s%3N)
	curl -s -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' --data \
		"{\"samples\":[{\"agent\":\"bot\",\"metric\":\"lat\",\"value\":100,\"ts\":$now},{\"agent\":\"bot\",\"metric\":\"tok\",\"value\":500,\"ts\":$now},{\"agent\":\"bot\",\"metric\":\"cpu\",\"value\":40,\"ts\":$now}]}" \
		"$URL/api/v1/metrics" >/dev/null
	sleep 0.3
	api GET "/api/v1/metrics/query?agent=bot&metric=anomaly.score&tag.detector=$LIVE&from=-1m&step=1s&agg=count" "" "$BOB"
	[ "$(jbody '[.series[].points[][1]] | add // 0')" -ge 1 ]
}
for _ in $(seq 1 40); do live_scored && break; done
ok $? "the detector thread scores a closed bucket by itself"
api GET "$D/$LIVE" "" "$BOB"
isnt "$(jbody .last_ts)" null "... and records the last bucket it scored"

SENTINEL_SERVER=$URL SENTINEL_TOKEN=$BOB "$S" detector ls >"$TMP/ls.out" 2>&1
like "$(cat "$TMP/ls.out")" "$DET" "sentinel detector ls"
api DELETE "$D/$DET" "" "$CAROL"
is "$STATUS" 404 "carol cannot delete it"
SENTINEL_SERVER=$URL SENTINEL_TOKEN=$BOB "$S" detector rm "$DET" >/dev/null 2>&1
ok $? "sentinel detector rm"
api GET "$D/$DET" "" "$BOB"
is "$STATUS" 404 "it is gone"
done_testing
