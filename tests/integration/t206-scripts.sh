#!/usr/bin/env bash
# Scripts: push (raw text, 1 MiB cap, UTF-8 only), dedup, list, get,
# content, unified diff, and the same access rule as datasets.
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)
mkuser bob bobpass1234 member
BOB=$(login bob bobpass1234)
S=/api/v1/scripts
push() { local n=$1; shift; call POST "$S/$n/versions" -H "Authorization: Bearer $TOKEN" "$@"; }

printf '#!/bin/sh\necho one\necho two\necho three\n' >"$TMP/v1"
printf '#!/bin/sh\necho one\necho 2\necho three\necho four\n' >"$TMP/v2"
push prep --data-binary @"$TMP/v1" --url-query message=init
is "$STATUS $(jbody .script) $(jbody .number) $(jbody .language)" "201 prep 1 shell" "push a shell script"
push prep --data-binary @"$TMP/v1"
is "$STATUS $(jbody .deduplicated)" "200 true" "the same text again: deduplicated"
push prep --data-binary @"$TMP/v2"
is "$STATUS $(jbody .number)" "201 2" "version 2"
api GET "$S"
is "$(jbody '[.items[].name] | join(",")')" "prep" "list"
api GET "$S/prep"
is "$(jbody .kind) $(jbody .versions)" "script 2" "get"
curl -s -o "$TMP/dl" -H "Authorization: Bearer $TOKEN" "$URL$S/prep/versions/2/content"
ok "$(cmp -s "$TMP/dl" "$TMP/v2"; echo $?)" "content is byte-identical"
api GET "$S/prep/diff?from=1&to=2"
is "$(jbody .added) $(jbody .removed) $(jbody .identical)" "2 1 false" "diff counts"
is "$(jbody .diff)" "$(printf -- '--- prep@1\n+++ prep@2\n@@ -1,4 +1,5 @@\n #!/bin/sh\n echo one\n-echo two\n+echo 2\n echo three\n+echo four')" \
	"a unified diff"
api GET "$S/prep/diff?from=2&to=2"
is "$(jbody .identical) $(jbody .diff)" "true " "a version against itself: identical, empty diff"
printf 'a\x00b' >"$TMP/nul"
push bin --data-binary @"$TMP/nul"
is_error 422 not_text "a NUL byte: 422"
head -c 1100000 /dev/zero | tr '\0' a >"$TMP/huge"
push huge --data-binary @"$TMP/huge"
is "$STATUS" "413" "over 1 MiB: 413"
api GET "$S/prep" "" "$BOB"
is_error 404 not_found "another member does not see a private script"
api GET "$S/prep/diff?from=1&to=2" "" "$BOB"
is_error 404 not_found "... nor its diff"
done_testing
