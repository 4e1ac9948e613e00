/* The dataset domain's schema (datasets and scripts share it: kind).
 * Append only: never edit a migration that has shipped. ds_blobs lists
 * each blob an item's versions reference, so that deleting the item can
 * drop its references on blob_refs (ref = the item's id). */
#include "dataset/ds.h"

static const store_migration migrations[] = {
	{ 1,
	  "CREATE TABLE ds_items ("
	  " id TEXT PRIMARY KEY,"
	  " kind TEXT NOT NULL CHECK (kind IN ('dataset','script')),"
	  " name TEXT NOT NULL,"
	  " owner_id TEXT NOT NULL,"
	  " public INTEGER NOT NULL DEFAULT 0,"
	  " archived INTEGER NOT NULL DEFAULT 0,"
	  " created_at BIGINT NOT NULL,"
	  " updated_at BIGINT NOT NULL,"
	  " UNIQUE (kind, name));"
	  "CREATE INDEX ds_items_owner ON ds_items(owner_id);"
	  "CREATE TABLE ds_shares ("
	  " item_id TEXT NOT NULL REFERENCES ds_items(id) ON DELETE CASCADE,"
	  " group_id TEXT NOT NULL,"
	  " access TEXT NOT NULL CHECK (access IN ('read','write')),"
	  " PRIMARY KEY (item_id, group_id));"
	  "CREATE TABLE ds_versions ("
	  " item_id TEXT NOT NULL REFERENCES ds_items(id) ON DELETE CASCADE,"
	  " number BIGINT NOT NULL,"
	  " kind TEXT NOT NULL CHECK (kind IN ('file','fileset')),"
	  " sha256 TEXT NOT NULL,"
	  " filename TEXT,"
	  " bytes BIGINT NOT NULL,"
	  " files BIGINT NOT NULL,"
	  " parent BIGINT,"
	  " uploader_id TEXT NOT NULL,"
	  " created_at BIGINT NOT NULL,"
	  " message TEXT NOT NULL DEFAULT '',"
	  " language TEXT,"
	  " profiles TEXT,"
	  " PRIMARY KEY (item_id, number));"
	  "CREATE INDEX ds_versions_sha ON ds_versions(item_id, sha256);"
	  "CREATE TABLE ds_blobs ("
	  " item_id TEXT NOT NULL REFERENCES ds_items(id) ON DELETE CASCADE,"
	  " sha256 TEXT NOT NULL,"
	  " PRIMARY KEY (item_id, sha256));",
	  NULL, NULL },
};

const store_domain ds_store_domain = {
	"dataset", migrations, (int)(sizeof migrations / sizeof migrations[0]), 0,
};
