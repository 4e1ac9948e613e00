/* "name@version" of a dataset or script, resolved for a job: the content's
 * hash and kind, under the item's read rule (ds_item_get). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/util.h"
#include "dataset/ds_int.h"

static int latest(store_conn *c, const char *item_id, int64_t *out)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT MAX(number) FROM ds_versions WHERE item_id = $1", &rows,
			     SARGS(SA_TEXT(item_id)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1)
		rc = store_rows_isnull(rows, 0) ? -ENOENT : 0;
	else if (rc == 0)
		rc = -ENOENT;
	if (rc == 0)
		*out = store_rows_int(rows, 0);
	store_rows_free(&rows);
	return rc;
}

int ds_ref_resolve(store_conn *c, const char *kind, const char *spec, const struct auth_user *u,
		   ds_ref *out)
{
	const ds_kind *k = kind && strcmp(kind, "dataset") == 0 ? &ds_kind_dataset
			   : kind && strcmp(kind, "script") == 0 ? &ds_kind_script : NULL;
	char name[DS_NAME_MAX + 1];
	const char *at = spec ? strchr(spec, '@') : NULL;
	size_t len = at ? (size_t)(at - spec) : spec ? strlen(spec) : 0;
	int64_t number = 0;
	ds_item it;
	ds_version v = { 0 };
	if (!k || len == 0 || len > DS_NAME_MAX || (at && sn_parse_number(at + 1, &number)))
		return -EINVAL;
	memcpy(name, spec, len);
	name[len] = '\0';
	if (!ds_name_valid(name))
		return -EINVAL;
	int rc = ds_item_get(c, k, name, u, &it);
	if (rc == 0 && !at)
		rc = latest(c, it.id, &number);
	if (rc == 0)
		rc = ds_version_get(c, it.id, number, &v);
	if (rc)
		return rc;
	memset(out, 0, sizeof *out);
	sn_strlcpy(out->name, name, sizeof out->name);
	out->version = v.number;
	sn_strlcpy(out->sha256, v.sha256, sizeof out->sha256);
	sn_strlcpy(out->kind, v.kind, sizeof out->kind);
	if (v.filename)
		sn_strlcpy(out->filename, v.filename, sizeof out->filename);
	out->bytes = v.bytes;
	out->files = v.files;
	ds_version_release(&v);
	return 0;
}
