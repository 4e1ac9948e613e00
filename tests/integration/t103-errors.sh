#!/usr/bin/env bash
# Errors are JSON {"error":{"code","message"}} with the right status: bad
# JSON, missing and mistyped fields, content types, body limits, unknown
# routes, wrong methods; list pagination parameters.
. "$(dirname "$0")/lib.sh"

start_server
TOKEN=$(login admin adminpass123)
AUTH=(-H "Authorization: Bearer $TOKEN")
JSON=(-H 'Content-Type: application/json')

# ---- malformed JSON ----
api POST /api/v1/users '{"username": "bob", "password": '
is_error 400 bad_json "truncated JSON is 400"
like "$(errmsg)" '[Mm]alformed JSON' "... the message says the JSON is malformed"
like "$(errmsg)" 'line 1 column [0-9]+' "... and where"
api POST /api/v1/users '{bad}'
is_error 400 bad_json "{bad} is 400"
api POST /api/v1/users '["username","bob"]'
is_error 400 bad_json "a JSON array body is 400"
like "$(errmsg)" 'object' "... the message asks for an object"
api POST /api/v1/users '"just a string"'
is_error 400 bad_json "a JSON string body is 400"
api POST /api/v1/users '{"username":"a","username":"b","password":"xxxxxxxxx"}'
is_error 400 bad_json "duplicate keys are refused"
like "$(errmsg)" 'duplicate' "... and the message says so"
api POST /api/v1/users '{"username":"bob","password":"bobpass12"} trailing'
is_error 400 bad_json "trailing garbage after the object is 400"
call POST /api/v1/users "${AUTH[@]}" "${JSON[@]}" --data-binary $'{"username":"bob\xff\xfe","password":"bobpass12"}'
is_error 400 bad_json "invalid UTF-8 is 400"

# ---- fields ----
api POST /api/v1/users '{"password":"bobpass12"}'
is_error 400 bad_request "a missing field is 400"
like "$(errmsg)" "'username'" "... the message names the missing field"
api POST /api/v1/users '{"username":"bob"}'
is_error 400 bad_request "another missing field is 400"
like "$(errmsg)" "'password'" "... naming it"
api POST /api/v1/users '{"username":42,"password":"bobpass12"}'
is_error 400 bad_request "a number where a string belongs is 400"
like "$(errmsg)" "'username'.*string" "... naming the field and the type"
api POST /api/v1/users '{"username":"bob","password":null}'
is_error 400 bad_request "null where a string belongs is 400"
like "$(errmsg)" "'password'" "... naming the field"
api POST /api/v1/users '{"username":"bob","password":"bobpass12","role":["admin"]}'
is_error 400 bad_request "an array where a string belongs is 400"
like "$(errmsg)" "'role'" "... naming the field"
api POST /api/v1/users '{"username":"bob","password":"bob\u0000pass12"}'
is "$STATUS:$(jbody '.error.code | test("^bad_(json|request)$")')" "400:true" "a NUL character in a string is 400"
like "$(errmsg)" "'password'|u0000|NUL" "... naming the problem"
long=$(head -c 100 /dev/zero | tr '\0' a)
api POST /api/v1/users "{\"username\":\"$long\",\"password\":\"bobpass12\"}"
is_error 400 bad_request "a too-long username is 400"
like "$(errmsg)" "'username'" "... naming the field"
api POST /api/v1/users '{"username":"bob","password":"bobpass12"}'
is "$STATUS" 201 "the well-formed request then works"
api PATCH /api/v1/users/bob '{"disabled":"yes"}'
is_error 400 bad_request "a string where a boolean belongs is 400"
like "$(errmsg)" "'disabled'" "... naming the field"
api POST /api/v1/tokens '{"name":"t","expires_in_days":"10"}'
is_error 400 bad_request "a string where an integer belongs is 400"
like "$(errmsg)" "'expires_in_days'" "... naming the field"
api POST /api/v1/tokens '{"name":"t","expires_in_days":1.5}'
is_error 400 bad_request "a fraction where an integer belongs is 400"
api POST /api/v1/tokens '{"name":"t","expires_in_days":-1}'
is_error 400 bad_request "a negative integer out of range is 400"
api POST /api/v1/auth/login '{"username":"admin"}' ""
is_error 400 bad_request "login without a password is 400"
like "$(errmsg)" "'password'" "... naming the field"
api POST /api/v1/auth/login '' ""
is_error 400 bad_request "login without a body is 400"

# ---- content types ----
call POST /api/v1/users "${AUTH[@]}" -H 'Content-Type: text/plain' --data '{"username":"c1","password":"c1pass123"}'
is_error 415 unsupported_media_type "text/plain is 415"
like "$(errmsg)" 'application/json' "... the message names the expected type"
call POST /api/v1/users "${AUTH[@]}" --data '{"username":"c1","password":"c1pass123"}'
is_error 415 unsupported_media_type "form encoding (curl's default) is 415"
call POST /api/v1/users "${AUTH[@]}" -H 'Content-Type: application/jsonx' --data '{"username":"c1","password":"c1pass123"}'
is_error 415 unsupported_media_type "application/jsonx is not JSON"
call POST /api/v1/users "${AUTH[@]}" -H 'Content-Type: application/json; charset=utf-8' --data '{"username":"c1","password":"c1pass123"}'
is "$STATUS" 201 "application/json with a charset is accepted"
call POST /api/v1/users "${AUTH[@]}" -H 'Content-Type: APPLICATION/JSON' --data '{"username":"c2","password":"c2pass123"}'
is "$STATUS" 201 "the media type is case-insensitive"
api GET /api/v1/users/c1
is "$STATUS" 200 "the 415s made no user; the good request did"

# ---- body limits ----
# Exactly 1 MiB (the JSON limit) is accepted: an object padded with spaces.
pad_to() { # pad_to BYTES JSON: JSON padded with trailing spaces to BYTES
	local need=$(($1 - ${#2}))
	{ printf '%s' "$2"; head -c "$need" /dev/zero | tr '\0' ' '; } >"$TMP/body"
}
pad_to 1048576 '{"name":"at-the-limit"}'
call POST /api/v1/groups "${AUTH[@]}" "${JSON[@]}" --data-binary @"$TMP/body"
is "$STATUS" 201 "a body of exactly 1 MiB is accepted"
pad_to 1048577 '{"name":"over-the-limit"}'
call POST /api/v1/groups "${AUTH[@]}" "${JSON[@]}" --data-binary @"$TMP/body"
is_error 413 too_large "a body of 1 MiB + 1 byte is 413"
like "$(errmsg)" '1048576' "... the message gives the limit"
head -c $((8 << 20)) /dev/zero | tr '\0' ' ' >"$TMP/big"
call POST /api/v1/groups "${AUTH[@]}" "${JSON[@]}" --data-binary @"$TMP/big"
is_error 413 too_large "an 8 MiB body is 413 JSON"
call POST /api/v1/groups "${AUTH[@]}" "${JSON[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/big"
is_error 413 too_large "an 8 MiB chunked body (no Content-Length) is 413 JSON"
call POST /api/v1/groups "${AUTH[@]}" "${JSON[@]}" -H 'Expect:' --data-binary @"$TMP/big"
is_error 413 too_large "an 8 MiB body sent without Expect: 100-continue is 413 JSON"
api GET /api/v1/groups/over-the-limit
is "$STATUS" 404 "the refused bodies created nothing"
api GET /api/v1/health "" ""
is "$STATUS" 200 "the server is still fine"

# ---- routes and methods ----
api GET /api/v1/no-such-thing
is_error 404 not_found "an unknown API route is 404 JSON"
like "$(errmsg)" '/api/v1/no-such-thing' "... the message names the path"
api GET /api/nope "" ""
is_error 404 not_found "an unknown API route without a token is 404 JSON"
like "$(header Content-Type)" '^application/json' "... served as application/json"
api GET /v1/nope
is_error 404 not_found "an unknown /v1/ route is 404 JSON (not the console's)"
api GET /api/v1/users/bob/extra
is_error 404 not_found "an extra path segment is 404"
api GET /api/v1/users/nobody
is_error 404 not_found "an unknown user is 404"
like "$(errmsg)" 'nobody' "... the message names it"
api PUT /api/v1/users
is_error 405 method_not_allowed "PUT on /api/v1/users is 405"
is "$(header Allow)" "GET, POST" "... with Allow: GET, POST"
api DELETE /api/v1/health "" ""
is_error 405 method_not_allowed "DELETE on health is 405"
is "$(header Allow)" "GET" "... with Allow: GET"
api POST /api/v1/users/bob '{}'
is_error 405 method_not_allowed "POST on /api/v1/users/{id} is 405"
is "$(tr -d ' ' <<<"$(header Allow)" | tr ',' '\n' | sort | tr '\n' ',')" "DELETE,GET,PATCH," \
	"... Allow lists GET, PATCH and DELETE"
call BREW /api/v1/health
like "$STATUS" '^(405|501)$' "an unknown method is refused"
if [ "$STATUS" = 405 ]; then is_error 405 method_not_allowed "... as JSON"; else ok 0 "... by libmicrohttpd (501)"; fi

# ---- every error is the same envelope, never HTML ----
for req in "GET /x.js" "POST /api/v1/health" "GET /api/v1/me" "GET /api/v1/users?limit=zero"; do
	set -- $req
	call "$1" "$2" -H "Authorization: Bearer $([ "$2" = /api/v1/me ] && echo bogus || echo "$TOKEN")"
	like "$(header Content-Type)" '^application/json' "$req: the error is application/json"
	is "$(jbody 'keys | join(",")'):$(jbody '.error | has("code") and has("message")')" "error:true" \
		"$req: the body is {\"error\":{\"code\",\"message\"}}"
	unlike "$BODY" '<html|<HTML|<!DOCTYPE' "$req: never an HTML page"
done

# ---- pagination ----
for g in pa pb pc pd pe; do api POST /api/v1/groups "{\"name\":\"$g\"}"; done
names=() cursor= pages=0
while :; do
	api GET "/api/v1/groups?limit=2${cursor:+&cursor=$cursor}"
	[ "$STATUS" = 200 ] || break
	pages=$((pages + 1))
	while read -r n; do [ -n "$n" ] && names+=("$n"); done < <(jbody '.items[].name')
	cursor=$(jbody '.next_cursor // empty')
	[ -n "$cursor" ] && [ $pages -lt 20 ] || break
done
is "${names[*]}" "at-the-limit pa pb pc pd pe" "paging groups with limit=2 visits each once, in order"
is "$pages" 3 "... in 3 pages"
is "$(jbody '.next_cursor')" null "the last page has next_cursor null"
api GET "/api/v1/groups?limit=2"
is "$(jbody '(.items|length|tostring) + ":" + (.next_cursor|type)')" "2:string" "a full page has a next_cursor"
api GET "/api/v1/groups"
is "$(jbody '(.items|length|tostring) + ":" + (.next_cursor|tostring)')" "6:null" "default limit: everything (< 50) in one page"
api GET "/api/v1/users?limit=1"
is "$(jbody '[.items[].username] | join(",")')" admin "users: limit=1 gives one user"
c=$(jbody .next_cursor)
api GET "/api/v1/users?limit=1&cursor=$c"
is "$(jbody '[.items[].username] | join(",")')" bob "users: the cursor gives the next one"
api GET "/api/v1/users?limit=1000"
is "$(jbody '[.items[].username] | join(",")'):$(jbody .next_cursor)" "admin,bob,c1,c2:null" "limit=1000 is allowed"
for bad in 0 1001 -1 abc 1.5 '' 10x; do
	api GET "/api/v1/users?limit=$bad"
	is_error 400 bad_request "limit='$bad' is 400"
	like "$(errmsg)" "'limit'" "... naming the parameter"
done
api GET "/api/v1/groups?limit=0"
is_error 400 bad_request "groups: limit=0 is 400"
api GET "/api/v1/tokens?limit=1001"
is_error 400 bad_request "tokens: limit=1001 is 400"
api GET "/api/v1/users?cursor=$(head -c 300 /dev/zero | tr '\0' a)"
is_error 400 bad_request "an absurd cursor is 400"

done_testing
