#!/usr/bin/env bash
# GET/HEAD /api/v1/blobs/{sha256}: ETag and If-None-Match (304), single
# ranges (206, Content-Range) and unsatisfiable ones (416), ?verify=1 on a
# damaged blob (500); access only through a record the caller may read
# (an upload session's commit: its owner), else 404; identical content
# stored once.
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)
mkuser alice alicepass123 member
mkuser bob bobpass1234 member
ALICE=$(login alice alicepass123)
BOB=$(login bob bobpass1234)

# upload TOKEN FILE: one session, one PATCH, commit; sets SID and SHA.
upload() {
	local n
	n=$(stat -c %s "$2")
	api POST /api/v1/uploads "{\"size\":$n}" "$1"
	SID=$(jbody .id)
	call PATCH "/api/v1/uploads/$SID" -H "Authorization: Bearer $1" \
		-H "Content-Range: bytes 0-$((n - 1))/$n" --data-binary @"$2"
	api POST "/api/v1/uploads/$SID/commit" "" "$1"
	SHA=$(jbody .sha256)
}
# get TOKEN PATH [curl args]: GET with the token.
get() { local t=$1 p=$2; shift 2; call GET "$p" -H "Authorization: Bearer $t" "$@"; }

printf 'hello world' >"$TMP/hw"
HW=$(sha256sum "$TMP/hw" | cut -c1-64)
upload "$ALICE" "$TMP/hw"
is "$SHA" "$HW" "alice's upload commits to the content's SHA-256"
B=/api/v1/blobs/$HW

get "$ALICE" "$B"
is "$STATUS $BODY" "200 hello world" "the owner of a referencing record reads the blob"
is "$(header ETag)" "\"$HW\"" "... with its SHA-256 as the ETag"
is "$(header Accept-Ranges) $(header Content-Type)" "bytes application/octet-stream" "... Accept-Ranges: bytes"

STATUS=$(curl -s -I -o "$TMP/head" -w '%{http_code}' -H "Authorization: Bearer $ALICE" "$URL$B")
is "$STATUS $(grep -i '^content-length:' "$TMP/head" | tr -d '\r' | awk '{print $2}')" "200 11" \
	"HEAD gives the status and the length without the body"

: >"$TMP/resp" # curl writes nothing for an empty body
get "$ALICE" "$B" -H "If-None-Match: \"$HW\""
is "$STATUS ${#BODY}" "304 0" "If-None-Match with the ETag: 304, no body"
get "$ALICE" "$B" -H "If-None-Match: \"abc\", W/\"$HW\""
is "$STATUS" "304" "... also as a weak tag in a list"
get "$ALICE" "$B" -H 'If-None-Match: "abc"'
is "$STATUS" "200" "... another tag: 200"

get "$ALICE" "$B" -H 'Range: bytes=0-4'
is "$STATUS $BODY $(header Content-Range)" "206 hello bytes 0-4/11" "Range a-b: 206 with Content-Range"
get "$ALICE" "$B" -H 'Range: bytes=6-'
is "$STATUS $BODY $(header Content-Range)" "206 world bytes 6-10/11" "Range a-: to the end"
get "$ALICE" "$B" -H 'Range: bytes=-5'
is "$STATUS $BODY $(header Content-Range)" "206 world bytes 6-10/11" "Range -n: the last n bytes"
get "$ALICE" "$B" -H 'Range: bytes=3-100'
is "$STATUS $BODY" "206 lo world" "a range past the end is cut at the end"
get "$ALICE" "$B" -H 'Range: bytes=11-'
is "$STATUS $(header Content-Range)" "416 bytes */11" "a range starting past the end: 416 with the size"
is_error 416 range_not_satisfiable "... as the error envelope"
get "$ALICE" "$B" -H 'Range: bytes=-0'
is "$STATUS" "416" "an empty suffix range: 416"
get "$ALICE" "$B" -H 'Range: bytes=0-1,4-5'
is "$STATUS $BODY" "200 hello world" "several ranges: the whole blob (200)"
get "$ALICE" "$B" -H 'Range: bytes=5-2'
is "$STATUS" "200" "a malformed range is ignored (200)"

get "$BOB" "$B"
is_error 404 not_found "a member no record of theirs references the blob gets 404"
get "$TOKEN" "$B"
is "$STATUS $BODY" "200 hello world" "an admin reads any referenced blob"
get "$TOKEN" "/api/v1/blobs/$(printf x | sha256sum | cut -c1-64)"
is_error 404 not_found "a blob nobody stored: 404, as for a forbidden one"
get "$TOKEN" "/api/v1/blobs/$(echo "$HW" | tr a-f A-F)"
is_error 400 bad_request "an upper-case or malformed name is refused"
get "$TOKEN" "/api/v1/blobs/..%2F..%2Fsentinel.db"
like "$STATUS" '^40[04]$' "... and a path never reaches the file system (no route, or refused)"
call GET "$B"
is "$STATUS" "401" "anonymous: 401"

# Bob uploads the same bytes: one file, two references.
upload "$BOB" "$TMP/hw"
BOB_SID=$SID
is "$SHA" "$HW" "bob's identical upload names the same blob"
is "$(find "$SERVER_DATA/blobs/sha256" -type f | wc -l)" "1" "... stored once"
get "$BOB" "$B"
is "$STATUS $BODY" "200 hello world" "bob reads it through his own record"
api DELETE "/api/v1/uploads/$BOB_SID" "" "$BOB"
is "$STATUS" "200" "bob deletes his session (its reference)"
get "$BOB" "$B"
is "$STATUS" "404" "... and can no longer read the blob"
get "$ALICE" "$B"
is "$STATUS" "200" "... while alice still can"
api DELETE "/api/v1/uploads/$BOB_SID" "" "$BOB"
is "$STATUS" "404" "a deleted session is gone"
api GET "/api/v1/uploads/$SID" "" "$ALICE"
is "$STATUS" "404" "alice cannot see bob's session either"

# The empty blob: a session committed with no PATCH.
api POST /api/v1/uploads '{"size":0}' "$ALICE"
api POST "/api/v1/uploads/$(jbody .id)/commit" "" "$ALICE"
EMPTY=$(jbody .sha256)
is "$EMPTY $(jbody .bytes)" "$(sha256sum </dev/null | cut -c1-64) 0" "an empty upload commits to the empty blob"
: >"$TMP/resp"
get "$ALICE" "/api/v1/blobs/$EMPTY"
is "$STATUS ${#BODY} $(header Content-Length)" "200 0 0" "... which reads back empty"
get "$ALICE" "/api/v1/blobs/$EMPTY" -H 'Range: bytes=0-'
is "$STATUS" "416" "... and has no satisfiable range"

get "$ALICE" "$B?verify=1"
is "$STATUS $BODY" "200 hello world" "?verify=1 on a sound blob: 200"
F=$SERVER_DATA/blobs/sha256/${HW:0:2}/${HW:2}
printf 'jello' | dd of="$F" conv=notrunc status=none
get "$ALICE" "$B?verify=1"
is_error 500 blob_corrupt "?verify=1 on a damaged blob: 500 before any byte"
ok "$(grep -c "blob $HW: its content no longer matches" "$TMP/server.log" | grep -qx 1; echo $?)" \
	"... and the server logs it"
get "$ALICE" "$B"
is "$STATUS $BODY" "200 jello world" "without verify the bytes are served as stored"

done_testing
