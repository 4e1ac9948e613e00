#!/usr/bin/env bash
# Dataset import from a URL (?import=): off by default; private and
# loopback addresses refused unless --import-allow lists them, a redirect's
# target checked again, a download over the size limit cut with nothing
# kept, an upstream error a 502 naming its status, and an imported CSV
# profiled as a pushed one.
. "$(dirname "$0")/lib.sh"
D=/api/v1/datasets
mkdir -p "$TMP/www"
printf 'id,name,score\n1,a,1.5\n2,b,2.5\n' >"$TMP/www/iris.csv"
printf 'a,b\n1,2\n3,4,5\n' >"$TMP/www/bad.csv"
head -c 300000 /dev/urandom >"$TMP/www/big.bin"
/usr/bin/python3 "$(dirname "$0")/helpers/importsrv.py" "$TMP/www" >"$TMP/up.port" 2>"$TMP/up.log" &
UPID=$!
for _ in $(seq 1 100); do
	[ -s "$TMP/up.port" ] && break
	sleep 0.05
done
UP="http://127.0.0.1:$(head -n1 "$TMP/up.port")"
trap 'kill "$UPID" 2>/dev/null; cleanup' EXIT
nblobs() { find "$SERVER_DATA/blobs/sha256" -type f 2>/dev/null | wc -l; }
imp() { # imp NAME URL [curl args...]
	local n=$1 u=$2
	shift 2
	call POST "$D/$n/versions" -H "Authorization: Bearer $TOKEN" --url-query "import=$u" "$@"
}

start_server
TOKEN=$(login admin adminpass123)
imp iris "$UP/iris.csv"
is_error 403 import_disabled "import is off unless the admin enables it"
stop_server

start_server --import
TOKEN=$(login admin adminpass123)
imp iris "$UP/iris.csv"
is_error 403 import_refused "--import alone: a loopback address is refused"
like "$(errmsg)" '127\.0\.0\.1.*--import-allow' "... the message names the address and the flag"
imp iris "file:///etc/passwd"
is_error 400 bad_request "a file:// URL is refused"
api GET "$D/iris"
is "$STATUS" 404 "... and no dataset was made"
stop_server

start_server --import-allow 127.0.0.1 --dataset-max-size 200K
TOKEN=$(login admin adminpass123)
imp iris "$UP/iris.csv" --url-query message=imported
is "$STATUS $(jbody .number) $(jbody .filename) $(jbody .message)" "201 1 iris.csv imported" \
	"--import-allow 127.0.0.1: the import makes version 1, named by the URL's last segment"
is "$(jbody .sha256)" "$(sha256sum <"$TMP/www/iris.csv" | cut -c1-64)" "... with the upstream bytes"
is "$(jbody '.profiles["iris.csv"].columns | map(.type) | join(",")')" "int,string,float" \
	"... profiled in the same pass"
imp named "$UP/iris.csv?x=1" --url-query filename=renamed.csv
is "$STATUS $(jbody .filename)" "201 renamed.csv" "?filename= names the file"
imp iris "$UP/iris.csv" --data-binary 'a,b'
is_error 400 bad_request "a body beside ?import= is refused"
B0=$(nblobs)
imp iris "$UP/redirect?to=http://127.0.0.2:1/iris.csv"
is_error 403 import_refused "a redirect to an address not allowed is refused"
like "$(errmsg)" 'redirect target 127\.0\.0\.2' "... naming the redirect target"
imp iris "$UP/redirect?to=$UP/redirect%3Fto=$UP/iris.csv"
is "$STATUS $(jbody .number)" "200 1" "redirects to allowed addresses are followed"
imp iris "$UP/redirect?to=file:///etc/passwd"
is_error 502 upstream "a redirect to a non-http URL is refused"
imp big "$UP/big.bin"
is_error 413 too_large "a download over the size limit is cut (Content-Length)"
imp big "$UP/stream?n=300000" --url-query filename=s.bin
is_error 413 too_large "... and without a Content-Length"
imp missing "$UP/missing"
is_error 502 upstream "an upstream 404 is a 502"
like "$(errmsg)" 'answered 404' "... naming the upstream status"
imp bad "$UP/bad.csv"
is_error 422 malformed_csv "a malformed CSV is refused as a pushed one"
imp gone "http://127.0.0.1:1/x.csv"
is_error 502 upstream "an upstream that does not answer is a 502"
api GET "$D/big"
is "$STATUS $(nblobs) $(ls "$SERVER_DATA/tmp" | wc -l)" "404 $B0 0" "nothing is kept of the refused imports"
stop_server

start_server --import-allow 127.0.0.0/8:1
TOKEN=$(login admin adminpass123)
imp iris "$UP/iris.csv"
is_error 403 import_refused "a CIDR entry with another port does not allow the upstream"
stop_server
try_start_server --import-allow 'bad entry!'
is "$?" 1 "an invalid --import-allow entry stops the server"
like "$(tail -n 3 "$TMP/server.log")" "import-allow" "... with a message naming the flag"
done_testing
