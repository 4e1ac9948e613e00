#!/usr/bin/env bash
# Resumable uploads: three PATCHes, a PATCH at the wrong offset (409 with
# the offset), another user's session (404), kill -9 of the server during a
# PATCH then restart and resume (the session is where its last PATCH left
# it; a torn tail is dropped), a wrong sha256 at commit (422, nothing
# kept), stale staging files and expired sessions removed at start;
# `sentinel gc` dry run and --apply.
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)
mkuser alice alicepass123 member
mkuser bob bobpass1234 member
ALICE=$(login alice alicepass123)
BOB=$(login bob bobpass1234)
TMPD=$SERVER_DATA/tmp

# patch TOKEN ID FIRST LAST TOTAL FILE: sends FILE as bytes FIRST-LAST/TOTAL.
patch() {
	call PATCH "/api/v1/uploads/$2" -H "Authorization: Bearer $1" \
		-H "Content-Range: bytes $3-$4/$5" --data-binary @"$6"
}

head -c 300000 /dev/urandom >"$TMP/payload"
DSHA=$(sha256sum "$TMP/payload" | cut -c1-64)
head -c 100000 "$TMP/payload" >"$TMP/p1"
tail -c +100001 "$TMP/payload" | head -c 100000 >"$TMP/p2"
tail -c +200001 "$TMP/payload" >"$TMP/p3"

api POST /api/v1/uploads "{\"size\":300000,\"sha256\":\"$DSHA\"}" "$ALICE"
ID=$(jbody .id)
is "$STATUS $(jbody .received) $(jbody .state) $(jbody .size)" "201 0 open 300000" "POST /uploads opens a session"
like "$(jbody .expires_at)" '^[0-9]{4}-' "... that expires"
patch "$ALICE" "$ID" 0 99999 300000 "$TMP/p1"
is "$STATUS $(jbody .received) $(header Upload-Offset)" "200 100000 100000" "PATCH 1 of 3"
patch "$ALICE" "$ID" 0 99999 300000 "$TMP/p1"
is "$STATUS $(header Upload-Offset)" "409 100000" "a PATCH at the wrong offset: 409 with the current offset"
is_error 409 wrong_offset "... in the error envelope"
patch "$BOB" "$ID" 100000 199999 300000 "$TMP/p2"
is_error 404 not_found "another member's PATCH on the session: 404"
api GET "/api/v1/uploads/$ID" "" "$BOB"
is "$STATUS" "404" "... and GET: 404"
patch "$ALICE" "$ID" 100000 199999 300001 "$TMP/p2"
is "$STATUS" "400" "a total that is not the declared size: 400"
patch "$ALICE" "$ID" 100000 199999 300000 "$TMP/p2"
is "$STATUS $(jbody .received)" "200 200000" "PATCH 2 of 3"
api POST "/api/v1/uploads/$ID/commit" "" "$ALICE"
is_error 409 incomplete "commit before every byte arrived: 409"
patch "$ALICE" "$ID" 200000 299999 300000 "$TMP/p3"
is "$STATUS $(jbody .received)" "200 300000" "PATCH 3 of 3"
api GET "/api/v1/uploads/$ID" "" "$ALICE"
is "$STATUS $(jbody .received)" "200 300000" "GET tells how many bytes arrived"
api POST "/api/v1/uploads/$ID/commit" "" "$ALICE"
is "$STATUS $(jbody .sha256) $(jbody .bytes)" "200 $DSHA 300000" "commit: the content's SHA-256 and size"
STATUS=$(curl -s -o "$TMP/got" -w '%{http_code}' -H "Authorization: Bearer $ALICE" "$URL/api/v1/blobs/$DSHA")
is "$STATUS $(sha256sum <"$TMP/got" | cut -c1-64)" "200 $DSHA" "... the blob reads back whole"
api POST "/api/v1/uploads/$ID/commit" "" "$ALICE"
is "$STATUS $(jbody .sha256)" "200 $DSHA" "a second commit answers the same"
printf 'x' >"$TMP/one"
patch "$ALICE" "$ID" 300000 300000 '*' "$TMP/one"
is_error 409 committed "a PATCH after the commit: 409"
is "$(ls -A "$TMPD" | wc -l)" "0" "nothing is left in DATA/tmp"

# A wrong sha256: 422 and nothing kept.
printf 'not what was announced' >"$TMP/w"
api POST /api/v1/uploads "{\"sha256\":\"$(printf x | sha256sum | cut -c1-64)\"}" "$ALICE"
WID=$(jbody .id)
patch "$ALICE" "$WID" 0 21 '*' "$TMP/w"
is "$STATUS" "200" "a PATCH with an unknown total (bytes a-b/*)"
api POST "/api/v1/uploads/$WID/commit" "" "$ALICE"
is_error 422 sha256_mismatch "commit with a wrong sha256: 422"
WSHA=$(sha256sum "$TMP/w" | cut -c1-64)
ok "$(test ! -e "$SERVER_DATA/blobs/sha256/${WSHA:0:2}/${WSHA:2}"; echo $?)" "... the content is not stored"
api GET "/api/v1/uploads/$WID" "" "$ALICE"
is "$STATUS $(ls -A "$TMPD" | wc -l)" "404 0" "... and the session and its staging file are gone"

# kill -9 during a PATCH, then restart and resume.
api POST /api/v1/uploads "{\"size\":300000,\"sha256\":\"$DSHA\"}" "$BOB"
KID=$(jbody .id)
patch "$BOB" "$KID" 0 99999 300000 "$TMP/p1"
is "$STATUS" "200" "bob's first PATCH"
head -c 2000000 /dev/zero >"$TMP/big"
curl -s -o /dev/null --limit-rate 200K -X PATCH -H "Authorization: Bearer $BOB" \
	-H 'Content-Range: bytes 100000-2099999/*' --data-binary @"$TMP/big" \
	"$URL/api/v1/uploads/$KID" &
CURL=$!
for _ in $(seq 1 200); do
	[ -n "$(find "$TMPD" -name '.body-*' -size +1k 2>/dev/null)" ] && break
	sleep 0.05
done
ok "$(test -n "$(find "$TMPD" -name '.body-*')"; echo $?)" "a slow PATCH is spooling"
stop_server KILL
wait "$CURL" 2>/dev/null
# What a crash can leave: a torn tail on the session's file, a writer's
# staging file, an orphan session file, an expired session.
printf 'torn' >>"$TMPD/upload-$KID"
touch "$TMPD/.blob-AbC123" "$TMPD/upload-up_0123456789abcdef0123"
start_server
api POST /api/v1/uploads '{}' "$ALICE"
XID=$(jbody .id)
stop_server KILL
dbq "UPDATE blob_uploads SET expires_at = 1 WHERE id = '$XID'" >/dev/null
start_server
is "$(ls -A "$TMPD" | sort | tr '\n' ' ')" "upload-$KID " \
	"at start: stale staging, spool and orphan files and the expired session's file are removed"
is "$(dbq "SELECT COUNT(*) FROM blob_uploads WHERE id = '$XID'")" "0" "... and its record"
api GET "/api/v1/uploads/$KID" "" "$BOB"
is "$STATUS $(jbody .received)" "200 100000" "after kill -9 the session resumes where its last PATCH ended"
patch "$BOB" "$KID" 100000 199999 300000 "$TMP/p2"
is "$STATUS $(jbody .received)" "200 200000" "... PATCH 2 after the restart (the torn tail dropped)"
patch "$BOB" "$KID" 200000 299999 300000 "$TMP/p3"
api POST "/api/v1/uploads/$KID/commit" "" "$BOB"
is "$STATUS $(jbody .sha256)" "200 $DSHA" "... and the committed hash is right"

# gc: an unreferenced blob (its only session deleted).
printf 'garbage' >"$TMP/g"
GSHA=$(sha256sum "$TMP/g" | cut -c1-64)
GF=$SERVER_DATA/blobs/sha256/${GSHA:0:2}/${GSHA:2}
api POST /api/v1/uploads '{}' "$ALICE"
GID=$(jbody .id)
patch "$ALICE" "$GID" 0 6 7 "$TMP/g"
api POST "/api/v1/uploads/$GID/commit" "" "$ALICE"
api DELETE "/api/v1/uploads/$GID" "" "$ALICE"
is "$STATUS" "200" "deleting a committed session drops its reference"
OUT=$("$SENTINEL_BIN" gc --data "$SERVER_DATA" 2>&1)
like "$OUT" "would delete 0 unreferenced blobs .* 1 unreferenced blobs kept" "gc keeps an unreferenced blob younger than the grace"
touch -d '-2 hours' "$GF"
DF=$SERVER_DATA/blobs/sha256/${DSHA:0:2}/${DSHA:2}
touch -d '-2 hours' "$DF"
api POST /api/v1/uploads '{}' "$BOB"
OPEN=$(jbody .id)
dbq "UPDATE blob_uploads SET created_at = created_at - 3 * 3600 * 1000 WHERE id = '$OPEN'" >/dev/null
OUT=$("$SENTINEL_BIN" gc --data "$SERVER_DATA" 2>&1)
like "$OUT" "would delete 0 unreferenced blobs" "gc keeps blobs younger than the oldest open upload session"
api DELETE "/api/v1/uploads/$OPEN" "" "$BOB"
OUT=$("$SENTINEL_BIN" gc --data "$SERVER_DATA" 2>&1)
like "$OUT" "^$GSHA 7$" "gc (dry run) lists the unreferenced blob and its size"
like "$OUT" "would delete 1 unreferenced blobs \(7 bytes\)" "... with the total"
like "$OUT" "dry run: nothing deleted" "... says it is a dry run"
ok "$(test -e "$GF"; echo $?)" "... and deletes nothing"
unlike "$OUT" "$DSHA" "a referenced blob is never listed, however old"
OUT=$("$SENTINEL_BIN" gc --data "$SERVER_DATA" --apply 2>&1)
like "$OUT" "deleted 1 unreferenced blobs \(7 bytes\)" "gc --apply deletes it"
ok "$(test ! -e "$GF"; echo $?)" "... the file is gone"
ok "$(test -e "$DF"; echo $?)" "... referenced blobs stay"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $BOB" "$URL/api/v1/blobs/$DSHA")
is "$STATUS" "200" "... and are still served"
"$SENTINEL_BIN" gc --data "$SERVER_DATA" --grace 5s >/dev/null 2>&1
is "$?" "2" "a grace under 1m is refused"
if on_pg; then
	# SENTINEL_DB, not --data, names the database: a missing one is the
	# counterpart of a wrong --data.
	SENTINEL_DB=${SENTINEL_DB%/*}/t_nowhere "$SENTINEL_BIN" gc --data "$TMP/nowhere" >/dev/null 2>&1
	is "$?" "1" "a missing database is an error"
else
	"$SENTINEL_BIN" gc --data "$TMP/nowhere" >/dev/null 2>&1
	is "$?" "1" "a data directory with no database is an error"
fi

done_testing
