#!/usr/bin/env bash
# Datasets: a streamed push (raw CSV, multipart, file sets), dedup, v1 -> v2
# with profiles, download byte-identical, preview, diff (with and without a
# key, file sets), a malformed CSV refused with its line and field and
# nothing kept, and a server killed mid-push leaving nothing after restart.
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)
D=/api/v1/datasets
push() { # push NAME [curl args...]
	local n=$1
	shift
	call POST "$D/$n/versions" -H "Authorization: Bearer $TOKEN" "$@"
}
jc() { printf "%s" "$BODY" | jq -c "$1" 2>/dev/null; }
nblobs() { find "$SERVER_DATA/blobs/sha256" -type f | wc -l; }

printf 'id,name,score\n1,a,1.5\n2,b,2.5\n3,c,NA\n' >"$TMP/v1.csv"
printf 'id,name,score\n1,a,1.5\n2,bb,2.5\n4,d,1\n' >"$TMP/v2.csv"
push iris -H 'Content-Type: text/csv' --data-binary @"$TMP/v1.csv" --url-query message=first
is "$STATUS $(jbody .number) $(jbody .kind) $(jbody .filename) $(jbody .deduplicated)" \
	"201 1 file data.csv false" "a raw text/csv push creates the dataset and version 1"
is "$(jbody .sha256)" "$(sha256sum <"$TMP/v1.csv" | cut -c1-64)" "... named by its SHA-256"
is "$(jbody .message) $(jbody .uploader) $(jbody .parent) $(jbody .bytes)" "first admin null 37" \
	"... with message, uploader, no parent, bytes"
is "$(jbody '.profiles["data.csv"].columns | map(.type) | join(",")')" "int,string,float" \
	"... and the profile computed during the upload"
like "$(jbody .created_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z$' "... and an RFC 3339 time"
# histograms: ints 1..3 at width 1; floats 1.5 and 2.5 at width 1/16, the
# 15 empty bins between them kept; none for a string
is "$(jc '.profiles["data.csv"].columns[0].histogram')" \
	'[{"lo":1,"hi":1,"count":1},{"lo":2,"hi":2,"count":1},{"lo":3,"hi":3,"count":1}]' \
	"... with a histogram of an int column"
is "$(jc '.profiles["data.csv"].columns[2].histogram | [length, .[0], .[-1], (map(.count) | add)]')" \
	'[17,{"lo":1.5,"hi":1.5625,"count":1},{"lo":2.5,"hi":2.5625,"count":1},2]' \
	"... and of a float column, counting its non-null values"
is "$(jbody '.profiles["data.csv"].columns[1] | has("histogram")')" false "... and none for a string"
B0=$(nblobs)
push iris -H 'Content-Type: text/csv' --data-binary @"$TMP/v1.csv"
is "$STATUS $(jbody .number) $(jbody .deduplicated)" "200 1 true" "identical content: the same version, deduplicated"
is "$(nblobs)" "$B0" "... no new blob"
push iris -F "file=@$TMP/v2.csv;filename=v.csv"
is "$STATUS $(jbody .number) $(jbody .parent) $(jbody .filename)" "201 2 1 v.csv" \
	"a multipart push with one file: version 2, parent 1"
push other -H 'Content-Type: text/csv' --data-binary @"$TMP/v2.csv"
is "$STATUS $(nblobs)" "201 $((B0 + 1))" "identical content in another dataset reuses the blob"

api GET "$D/iris"
is "$STATUS $(jbody .versions) $(jbody .latest_version) $(jbody .owner)" "200 2 2 admin" "GET the dataset"
api GET "$D/iris/versions"
is "$(jbody '[.items[].number] | join(",")')" "2,1" "versions, newest first"
api GET "$D/iris/versions?limit=1"
is "$(jbody '.items[0].number') $(jbody .next_cursor)" "2 2" "... paginated"
api GET "$D/iris/versions/$(jbody .next_cursor)"
api GET "$D/iris/versions?limit=1&cursor=2"
is "$(jbody '.items[0].number') $(jbody .next_cursor)" "1 null" "... the next page"
api GET "$D/iris/versions/1"
is "$STATUS $(jbody .number)" "200 1" "GET one version"
api GET "$D/iris/versions/9"
is_error 404 not_found "an unknown version: 404"

curl -s -o "$TMP/dl" -H "Authorization: Bearer $TOKEN" "$URL$D/iris/versions/1/content"
ok "$(cmp -s "$TMP/dl" "$TMP/v1.csv"; echo $?)" "download is byte-identical"
head -c 300000 /dev/urandom >"$TMP/bin"
push blob1 --data-binary @"$TMP/bin" --url-query filename=x.bin
is "$STATUS $(jbody .profiles)" "201 {}" "a binary file: no profile"
curl -s -o "$TMP/dl2" -H "Authorization: Bearer $TOKEN" "$URL$D/blob1/versions/1/content"
ok "$(cmp -s "$TMP/dl2" "$TMP/bin"; echo $?)" "... and its download is byte-identical"

api GET "$D/iris/versions/2/preview?limit=2"
is "$(jc '.rows' | tr -d ' \n')" '[[1,"a",1.5],[2,"bb",2.5]]' "preview: typed values"
is "$(jbody .truncated)" "true" "... truncated at the limit"
api GET "$D/iris/versions/1/preview"
is "$(jc '.rows[2]')" '[3,"c",null]' "... NA is null"

api GET "$D/iris/diff?from=1&to=2&key=id"
is "$STATUS $(jbody .kind) $(jc .diff.counts)" '200 table {"added":1,"removed":1,"changed":1,"unchanged":1}' \
	"diff with a key: added, removed, changed"
api GET "$D/iris/diff?from=1&to=2"
is "$(jc .diff.counts)" '{"added":2,"removed":2,"changed":0,"unchanged":1}' "diff without a key: whole rows"
api GET "$D/iris/diff?from=1&to=1"
is "$(jbody .diff.identical)" "true" "a version against itself: identical"
api GET "$D/iris/diff?from=1&to=2&key=nope"
is "$STATUS" "400" "an unknown key column: 400"
api GET "$D/iris/diff?from=1"
is_error 400 bad_request "diff needs from and to"

# A file set: one file changed between versions, the other stored once.
mkdir -p "$TMP/set"
printf 'x,y\n1,2\n' >"$TMP/set/a.csv"
head -c 5000 /dev/urandom >"$TMP/set/big.bin"
push fs -F "file=@$TMP/set/a.csv;filename=dir/a.csv" -F "file=@$TMP/set/big.bin;filename=big.bin"
is "$STATUS $(jbody .kind) $(jbody .files) $(jbody .filename)" "201 fileset 2 null" "a multipart push of two files: a file set"
B1=$(nblobs)
printf 'x,y\n1,3\n' >"$TMP/set/a.csv"
push fs -F "file=@$TMP/set/a.csv;filename=dir/a.csv" -F "file=@$TMP/set/big.bin;filename=big.bin"
is "$STATUS $(jbody .number)" "201 2" "version 2 of the set, one file changed"
is "$(nblobs)" "$((B1 + 2))" "... two new blobs only: the changed file and the manifest"
api GET "$D/fs/versions/2/content"
is "$(jc '[.files[].path]')" '["big.bin","dir/a.csv"]' "the set's content: its manifest, sorted"
curl -s -o "$TMP/dl3" -H "Authorization: Bearer $TOKEN" "$URL$D/fs/versions/2/content?path=big.bin"
ok "$(cmp -s "$TMP/dl3" "$TMP/set/big.bin"; echo $?)" "?path= downloads one file of the set"
api GET "$D/fs/diff?from=1&to=2"
is "$(jbody .kind) $(jc .changed) $(jbody .unchanged)" 'fileset ["dir/a.csv"] 1' "file-set diff by hash"
api GET "$D/fs/diff?from=1&to=2&path=dir/a.csv"
is "$(jbody .kind) $(jbody .diff.counts.added)" "table 1" "... and a table diff of one of its files"
push fs2 -F "file=@$TMP/set/a.csv;filename=../a.csv" -F "file=@$TMP/set/big.bin;filename=b"
is_error 422 bad_path "a path with .. is refused"
push fs2 -F "file=@$TMP/set/a.csv;filename=a.csv" -F "file=@$TMP/set/big.bin;filename=./a.csv"
is_error 422 bad_path "a duplicate path is refused"
push 'bad..name!' --data-binary x
is_error 400 bad_request "an invalid name: 400"
push .hidden --data-binary x
is_error 400 bad_request "a leading dot: 400"

# Malformed CSV: 422 with line and field; no version, no new blob.
B2=$(nblobs)
printf 'a,b\n1,2\n3,4,5\n' >"$TMP/bad.csv"
push badcsv --data-binary @"$TMP/bad.csv" --url-query filename=t.csv
is_error 422 malformed_csv "a malformed .csv is refused"
like "$(errmsg)" '^t\.csv: line 3, field 3' "... naming file, line and field"
api GET "$D/badcsv"
is "$STATUS $(nblobs)" "404 $B2" "... and nothing is kept: no dataset, no blob"
is "$(ls "$SERVER_DATA/tmp" | wc -l)" "0" "... no staging file"

# Tables of several MiB are checked on a thread of their own: the rows, and
# an error deep in the file, come out as for a small one.
seq 1 400000 | awk '{print $1 "," $1 * 2 ",x" $1}' | sed '1i id,twice,name' >"$TMP/big.csv"
push bigcsv -H 'Content-Type: text/csv' --data-binary @"$TMP/big.csv"
is "$STATUS $(jc '.profiles["data.csv"].rows')" "201 400000" "a $(($(stat -c %s "$TMP/big.csv") >> 20)) MiB table: every row profiled"
is "$(jc '.profiles["data.csv"].columns[1].max')" 800000 "... to the last row"
{ cat "$TMP/big.csv"; echo '1,2'; } >"$TMP/bigbad.csv"
push bigbad -H 'Content-Type: text/csv' --data-binary @"$TMP/bigbad.csv"
is_error 422 malformed_csv "a ragged last row of a large table is refused"
like "$(errmsg)" '^data\.csv: line 400002' "... naming its line"
api GET "$D/bigbad"
is "$STATUS" 404 "... and no dataset is left"

# kill -9 mid-push: nothing after restart.
B2=$(nblobs)
head -c 30000000 /dev/zero >"$TMP/big"
curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" --limit-rate 2M --data-binary @"$TMP/big" \
	"$URL$D/killed/versions?filename=big" &
CPID=$!
for _ in $(seq 1 100); do
	[ "$(ls "$SERVER_DATA/tmp" | wc -l)" -gt 0 ] && break
	sleep 0.05
done
stop_server KILL
wait "$CPID" 2>/dev/null
start_server
TOKEN=$(login admin adminpass123)
api GET "$D/killed"
is "$STATUS $(ls "$SERVER_DATA/tmp" | wc -l) $(nblobs)" "404 0 $B2" "kill -9 mid-push: no dataset, no staging file, no blob"

api DELETE "$D/iris" "" "$TOKEN"
is "$STATUS $(jbody .deleted)" "200 iris" "an admin deletes a dataset"
is "$(dbq "SELECT COUNT(*) FROM blob_refs WHERE domain = 'dataset' AND ref NOT IN (SELECT id FROM ds_items)")" \
	"0" "... with its references"

# A version from an upload session (?upload=ID, empty body).
api POST /api/v1/uploads '{"size":12}'
UID_=$(jbody .id)
call PATCH "/api/v1/uploads/$UID_" -H "Authorization: Bearer $TOKEN" -H 'Content-Range: bytes 0-11/12' \
	--data-binary $'a,b\n1,2\n3,4\n'
push fromup -X POST --url-query "upload=$UID_" --url-query filename=s.csv
is_error 409 conflict "a session that is not committed yet cannot become a version"
api POST "/api/v1/uploads/$UID_/commit"
push fromup -X POST --url-query "upload=$UID_" --url-query filename=s.csv
is "$STATUS $(jc '.profiles["s.csv"].rows')" "201 2" "a committed session becomes a version, CSV-checked and profiled"
mkuser mona monapass12 member >/dev/null
MONA=$(login mona monapass12)
call POST "$D/monas/versions?upload=$UID_&filename=s.csv" -H "Authorization: Bearer $MONA"
is_error 404 not_found "another user's session is as absent as an unknown one"
done_testing
