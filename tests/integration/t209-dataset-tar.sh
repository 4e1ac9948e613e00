#!/usr/bin/env bash
# Tar file sets: a directory pushed as application/x-tar (GNU and pax
# archives, long names), pulled back as a tar (?format=tar) and extracted
# identical; a symlink, hard link or device member refused by name with
# nothing kept; a cut archive refused; the default content stays the
# manifest JSON.
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)
D=/api/v1/datasets
nblobs() { find "$SERVER_DATA/blobs/sha256" -type f 2>/dev/null | wc -l; }
pushtar() { # pushtar NAME FILE
	call POST "$D/$1/versions" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/x-tar' \
		--data-binary @"$2"
}
pull() { # pull NAME V OUT
	curl -s -o "$3" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		"$URL$D/$1/versions/$2/content?format=tar"
}

S=$TMP/src
LONG=$(printf 'd%.0s' $(seq 1 60))/$(printf 'n%.0s' $(seq 1 80)).csv
mkdir -p "$S/sub/deeper" "$S/empty" "$(dirname "$S/$LONG")"
printf 'id,v\n1,2\n3,4\n' >"$S/a.csv"
printf 'x\ty\n1\t2\n' >"$S/sub/t.tsv"
head -c 700000 /dev/urandom >"$S/sub/deeper/blob.bin"
: >"$S/sub/zero"
printf 'k,v\n1,long\n' >"$S/$LONG"
tar -C "$S" -cf "$TMP/gnu.tar" .
pushtar set "$TMP/gnu.tar"
is "$STATUS $(jbody .kind) $(jbody .files)" "201 fileset 5" "a GNU tar of a directory: a file set of its 5 files"
is "$(jbody '.profiles["sub/t.tsv"].columns | length') $(jbody '.profiles["a.csv"].rows')" "2 2" \
	"... its tables profiled"
api GET "$D/set/versions/1/content"
is "$(jbody '.files | length')" 5 "the default content is still the manifest JSON"
is "$(pull set 1 "$TMP/out.tar")" 200 "?format=tar: 200"
mkdir "$TMP/x"
tar -C "$TMP/x" -xf "$TMP/out.tar"
ok "$(diff -r <(cd "$S" && find . -type f | sort) <(cd "$TMP/x" && find . -type f | sort) >/dev/null && diff -r "$S" "$TMP/x" -x empty >/dev/null; echo $?)" \
	"... extracts to the same files (diff -r)"
is "$(stat -c %s "$TMP/out.tar")" "$(curl -sI -H "Authorization: Bearer $TOKEN" "$URL$D/set/versions/1/content?format=tar" | tr -d '\r' | awk 'tolower($1)=="content-length:"{print $2}')" \
	"... its Content-Length is exact"
tar --format=pax -C "$S" -cf "$TMP/pax.tar" .
pushtar set "$TMP/pax.tar"
is "$STATUS $(jbody .number) $(jbody .deduplicated)" "200 1 true" "the same files as a pax archive: the same version"
printf 'a,b\n' >"$TMP/one.csv"
tar -C "$TMP" -cf "$TMP/one.tar" one.csv
pushtar one "$TMP/one.tar"
is "$STATUS $(jbody .kind) $(jbody .filename)" "201 file one.csv" "a tar of one file: a single-file version"
is "$(pull one 1 "$TMP/one.out")" 200 "... also pulled as a tar"
is "$(tar -xOf "$TMP/one.out" one.csv)" "a,b" "... holding the file"

B0=$(nblobs)
ln -s a.csv "$S/link"
tar -C "$S" -cf "$TMP/sym.tar" .
pushtar bad "$TMP/sym.tar"
is_error 422 refused_member "a tar with a symlink is refused"
like "$(errmsg)" "'\./link'.*symbolic link" "... naming the member"
rm "$S/link"
ln "$S/a.csv" "$S/hard"
tar -C "$S" -cf "$TMP/hard.tar" .
pushtar bad "$TMP/hard.tar"
is_error 422 refused_member "a hard link is refused"
rm "$S/hard"
mknod "$TMP/dev" c 1 3 2>/dev/null && {
	tar -C "$TMP" -cf "$TMP/dev.tar" dev
	pushtar bad "$TMP/dev.tar"
	is_error 422 refused_member "a device is refused"
}
head -c 20000 "$TMP/gnu.tar" >"$TMP/cut.tar"
pushtar bad "$TMP/cut.tar"
is_error 422 bad_archive "a cut archive is refused"
printf 'not a tar at all, just text that is long enough %0500d' 0 >"$TMP/junk.tar"
pushtar bad "$TMP/junk.tar"
is_error 422 bad_archive "a body that is no tar is refused"
mkdir -p "$TMP/up"
printf 'x' >"$TMP/up/f"
tar -C "$TMP/up" -cf "$TMP/dotdot.tar" --transform 's|^f$|../f|' f
pushtar bad "$TMP/dotdot.tar"
is_error 422 bad_path "a member path with .. is refused"
api GET "$D/bad"
is "$STATUS $(nblobs) $(ls "$SERVER_DATA/tmp" | wc -l)" "404 $B0 0" "... and nothing of the refused pushes is kept"
api GET "$D/set/versions/1/content?format=zip"
is_error 400 bad_request "an unknown format: 400"
done_testing
