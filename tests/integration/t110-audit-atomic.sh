#!/usr/bin/env bash
# A change and its audit row commit together: when the audit row cannot be
# written, the change does not happen either (and the caller is told).
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)

api POST /api/v1/groups '{"name":"before"}'
is "$STATUS" 201 "a group is created while the audit works"

# Make every audit insert fail, from outside the server: the table is gone.
dbq "ALTER TABLE audit RENAME TO audit_away;"
api POST /api/v1/groups '{"name":"unaudited"}'
is "$STATUS" 500 "a change whose audit row fails is refused"
is "$(jq -r .error.code <<<"$BODY")" internal "... with a JSON error"
api GET /api/v1/groups/unaudited
is "$STATUS" 404 "... and the group does not exist"
api POST /api/v1/users '{"username":"zed","password":"zedpass123"}'
is "$STATUS" 500 "so is any other change"
api GET /api/v1/users/zed
is "$STATUS" 404 "... which does not happen either"
api GET /api/v1/me
is "$STATUS" 200 "reads go on"

dbq "ALTER TABLE audit_away RENAME TO audit;"
api POST /api/v1/groups '{"name":"after"}'
is "$STATUS" 201 "with the audit back, groups are created again"
api GET "/api/v1/audit?action=group.create"
is "$(jq -r '[.items[] | select(.outcome == "success") | .target] | join(",")' <<<"$BODY")" "after,before" \
	"every created group has exactly one success row"
api POST /api/v1/users '{"username":"zed","password":"zedpass123"}'
is "$STATUS" 201 "... and users"
api GET "/api/v1/audit?action=user.create"
is "$(jq -r '[.items[] | select(.outcome == "success") | .target] | join(",")' <<<"$BODY")" "zed" \
	"... each with its one row"
done_testing
