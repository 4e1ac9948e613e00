#!/usr/bin/env bash
# The runtimes API: list, upload (a tarball body), scan + register from the
# drop folder, get, delete; crafted uploads refused (422) leaving nothing;
# reads for members, changes admin-only; changes are audited.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
start_server
TOKEN=$(login admin adminpass123)
RT=$SERVER_DATA/runtimes

# A plain rootfs tarball and a crafted one.
mkdir -p "$TMP/root/etc"
echo marker >"$TMP/root/etc/marker"
tar -C "$TMP/root" -cf "$TMP/ok.tar" .
$PY - "$TMP/evil.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    ti = tarfile.TarInfo("../escape"); ti.size = 1; t.addfile(ti, io.BytesIO(b"x"))
EOF

api GET /api/v1/runtimes
is "$STATUS $(jbody '[.items[].name] | join(",")')" "200 host" "GET /runtimes lists the built-in host"

call POST "/api/v1/runtimes/upload?name=up" -H "Authorization: Bearer $TOKEN" \
	-H "Content-Type: application/x-tar" --data-binary @"$TMP/ok.tar"
is "$STATUS $(jbody .kind) $(jbody .sha256)" "201 image $(sha256sum "$TMP/ok.tar" | cut -c1-64)" \
	"POST /runtimes/upload ingests the body"
is "$(cat "$RT/$(jbody .sha256)/rootfs/etc/marker" 2>&1)" "marker" "... into DATA/runtimes/<sha256>/rootfs"
is "$(jbody .source) $(jbody .bytes) $(jbody .archive_bytes)" "upload 7 $(stat -c %s "$TMP/ok.tar")" \
	"... the reply names no spool file and gives the tree's size (7 bytes of files) and the tarball's"
like "$(jbody .created_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$' "... its creation time in RFC 3339"
is "$(jbody 'has("created_ms")')" "false" "... and no epoch milliseconds"
call POST "/api/v1/runtimes/upload?name=up2" -H "Authorization: Bearer $TOKEN" \
	-H "Content-Type: application/x-tar" --data-binary @"$TMP/ok.tar"
is "$STATUS $(jbody .bytes)" "201 7" "the same tarball under a second name shares the tree and reports its size, not 0"
api DELETE /api/v1/runtimes/up2
is "$(ls -A "$RT/incoming" | wc -l)" "0" "... and leaves no upload file behind"
is "$(ls -A "$SERVER_DATA/tmp" | wc -l)" "0" "... nor its spool file (the body streamed to disk)"

call POST "/api/v1/runtimes/upload?name=evil" -H "Authorization: Bearer $TOKEN" \
	-H "Content-Type: application/x-tar" --data-binary @"$TMP/evil.tar"
is_error 422 refused "a crafted upload is refused with 422"
like "$(errmsg)" "\.\./escape" "... naming the member"
is "$(ls -A "$RT" | grep -vx -e incoming -e names -e .lock | wc -l) $(ls "$RT/names")" "1 up.json" "... leaving no tree and no record"
call POST "/api/v1/runtimes/upload?name=bad/name" -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/ok.tar"
is_error 400 bad_request "an invalid name is a 400"

cp "$TMP/ok.tar" "$RT/incoming/dropped.tar"
api GET /api/v1/runtimes/scan
is "$STATUS $(jbody '.items | length')" "200 0" "scan: a dropped copy of a registered tarball is not new"
tar -C "$TMP/root" -czf "$RT/incoming/new.tar.gz" .
api GET /api/v1/runtimes/scan
is "$(jbody '[.items[].file] | join(",")')" "new.tar.gz" "scan lists the new tarball"
api POST /api/v1/runtimes/register '{"name":"fromdrop","file":"new.tar.gz"}'
is "$STATUS $(jbody .name)" "201 fromdrop" "register ingests a file from the drop folder"
api POST /api/v1/runtimes/register '{"name":"x","file":"../../etc/passwd"}'
is_error 400 bad_request "register refuses a path outside the drop folder"
api POST /api/v1/runtimes/register '{"name":"fromdrop","file":"new.tar.gz"}'
is_error 409 conflict "registering an existing name is a 409"
api POST /api/v1/runtimes/register '{"name":"y","file":"missing.tar"}'
is_error 404 not_found "registering a missing file is a 404"

api GET /api/v1/runtimes/up
is "$STATUS $(jbody .kind)" "200 image" "GET /runtimes/{name}"

mkuser bob bobpass12 member
BOB=$(login bob bobpass12)
api GET /api/v1/runtimes "" "$BOB"
is "$STATUS $(jbody '.items | length')" "200 3" "a member lists the runtimes"
api POST /api/v1/runtimes/register '{"name":"z","file":"new.tar.gz"}' "$BOB"
is_error 403 forbidden "a member may not register"
api DELETE /api/v1/runtimes/up "" "$BOB"
is_error 403 forbidden "a member may not delete"
api GET /api/v1/runtimes/scan "" "$BOB"
is_error 403 forbidden "a member may not scan"

api DELETE /api/v1/runtimes/up
is "$STATUS" "200" "an admin deletes a runtime"
api GET /api/v1/runtimes/up
is_error 404 not_found "... after which it is gone"
api DELETE /api/v1/runtimes/host
is_error 403 forbidden "the host runtime cannot be deleted"

api GET "/api/v1/audit?action=runtime.delete"
like "$BODY" '"up"' "the deletion is in the audit log"

done_testing
