/* The auth domain's schema: users, tokens, groups and the audit log, as
 * migrations for the store's runner (store.h). Versions 1 and 2 shipped
 * when the store had one store-wide list: they keep their numbers, and the
 * domain is flagged legacy so that such databases adopt them in place.
 * Append only: never edit a migration that has shipped. */
#include "auth/auth.h"

static const store_migration migrations[] = {
	/* Tokens are kept as their SHA-256 only; on SQLite, triggers make the
	 * audit insert-only (replaced in 2 by the coalescing rules). */
	{ 1,
	  "CREATE TABLE users ("
	  " id TEXT PRIMARY KEY,"
	  " username TEXT NOT NULL UNIQUE,"
	  " pw_hash TEXT NOT NULL,"
	  " role TEXT NOT NULL CHECK (role IN ('superadmin','admin','member')),"
	  " disabled INTEGER NOT NULL DEFAULT 0,"
	  " created_at BIGINT NOT NULL,"
	  " updated_at BIGINT NOT NULL);"
	  "CREATE TABLE tokens ("
	  " id TEXT PRIMARY KEY,"
	  " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	  " hash TEXT NOT NULL UNIQUE,"
	  " kind TEXT NOT NULL CHECK (kind IN ('session','api')),"
	  " name TEXT NOT NULL DEFAULT '',"
	  " created_at BIGINT NOT NULL,"
	  " expires_at BIGINT,"
	  " revoked_at BIGINT,"
	  " last_used_at BIGINT);"
	  "CREATE INDEX tokens_user ON tokens(user_id);"
	  "CREATE TABLE user_groups ("
	  " id TEXT PRIMARY KEY,"
	  " name TEXT NOT NULL UNIQUE,"
	  " description TEXT NOT NULL DEFAULT '',"
	  " created_at BIGINT NOT NULL);"
	  "CREATE TABLE group_members ("
	  " group_id TEXT NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,"
	  " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	  " added_at BIGINT NOT NULL,"
	  " PRIMARY KEY (group_id, user_id));"
	  "CREATE INDEX group_members_user ON group_members(user_id);"
	  "CREATE TABLE audit ("
	  " id TEXT PRIMARY KEY," /* time-ordered: sorting by id sorts by time */
	  " ts BIGINT NOT NULL,"
	  " actor_id TEXT,"
	  " actor TEXT,"
	  " action TEXT NOT NULL,"
	  " target TEXT,"
	  " outcome TEXT NOT NULL,"
	  " status INTEGER NOT NULL,"
	  " address TEXT,"
	  " request_id TEXT);"
	  "CREATE INDEX audit_ts ON audit(ts);"
	  "CREATE INDEX audit_actor ON audit(actor, id);"
	  "CREATE INDEX audit_action ON audit(action, id);",
	  "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	  " BEGIN SELECT RAISE(ABORT, 'audit is insert-only'); END;"
	  "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	  " BEGIN SELECT RAISE(ABORT, 'audit is insert-only'); END;",
	  /* PostgreSQL: the same refusal, as a constraint error as on SQLite. */
	  "CREATE FUNCTION audit_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$"
	  " BEGIN RAISE EXCEPTION 'audit is insert-only' USING ERRCODE = '23000'; END $$;"
	  "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	  " FOR EACH ROW EXECUTE FUNCTION audit_insert_only();"
	  "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	  " FOR EACH ROW EXECUTE FUNCTION audit_insert_only();" },
	/* Refusals coalesce: one row per coalesce_key (status, action, actor,
	 * address, minute) with a count. Retention: rows older than
	 * audit_purge.cutoff may be deleted, nothing else; the cutoff is kept
	 * at least a day in the past, so no path can erase recent rows. */
	{ 2,
	  "ALTER TABLE audit ADD COLUMN count BIGINT NOT NULL DEFAULT 1;"
	  "ALTER TABLE audit ADD COLUMN coalesce_key TEXT;"
	  "CREATE UNIQUE INDEX audit_coalesce ON audit(coalesce_key);"
	  "CREATE TABLE audit_purge (id INTEGER PRIMARY KEY CHECK (id = 1), cutoff BIGINT NOT NULL);"
	  "INSERT INTO audit_purge (id, cutoff) VALUES (1, 0);",
	  "DROP TRIGGER audit_no_update;"
	  "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	  " WHEN OLD.coalesce_key IS NULL OR NEW.coalesce_key IS NOT OLD.coalesce_key"
	  " OR NEW.id IS NOT OLD.id OR NEW.ts IS NOT OLD.ts OR NEW.actor_id IS NOT OLD.actor_id"
	  " OR NEW.actor IS NOT OLD.actor OR NEW.action IS NOT OLD.action"
	  " OR NEW.target IS NOT OLD.target OR NEW.outcome IS NOT OLD.outcome"
	  " OR NEW.status IS NOT OLD.status OR NEW.address IS NOT OLD.address"
	  " OR NEW.request_id IS NOT OLD.request_id OR NEW.count IS NOT OLD.count + 1"
	  " BEGIN SELECT RAISE(ABORT, 'audit is insert-only'); END;"
	  "DROP TRIGGER audit_no_delete;"
	  "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	  " WHEN OLD.ts >= COALESCE((SELECT cutoff FROM audit_purge WHERE id = 1), 0)"
	  " BEGIN SELECT RAISE(ABORT, 'audit is insert-only'); END;"
	  "CREATE TRIGGER audit_purge_bounded BEFORE UPDATE ON audit_purge"
	  " WHEN NEW.id IS NOT OLD.id"
	  " OR NEW.cutoff > CAST(strftime('%s', 'now') AS INTEGER) * 1000 - 86400000"
	  " BEGIN SELECT RAISE(ABORT, 'the audit keeps at least its last day'); END;"
	  "CREATE TRIGGER audit_purge_no_delete BEFORE DELETE ON audit_purge"
	  " BEGIN SELECT RAISE(ABORT, 'audit_purge has one row'); END;"
	  "CREATE TRIGGER audit_purge_no_insert BEFORE INSERT ON audit_purge"
	  " BEGIN SELECT RAISE(ABORT, 'audit_purge has one row'); END;",
	  "DROP TRIGGER audit_no_update ON audit;"
	  "CREATE FUNCTION audit_coalesce_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
	  " IF OLD.coalesce_key IS NULL OR NEW.coalesce_key IS DISTINCT FROM OLD.coalesce_key"
	  " OR NEW.id IS DISTINCT FROM OLD.id OR NEW.ts IS DISTINCT FROM OLD.ts"
	  " OR NEW.actor_id IS DISTINCT FROM OLD.actor_id OR NEW.actor IS DISTINCT FROM OLD.actor"
	  " OR NEW.action IS DISTINCT FROM OLD.action OR NEW.target IS DISTINCT FROM OLD.target"
	  " OR NEW.outcome IS DISTINCT FROM OLD.outcome OR NEW.status IS DISTINCT FROM OLD.status"
	  " OR NEW.address IS DISTINCT FROM OLD.address"
	  " OR NEW.request_id IS DISTINCT FROM OLD.request_id"
	  " OR NEW.count IS DISTINCT FROM OLD.count + 1 THEN"
	  "  RAISE EXCEPTION 'audit is insert-only' USING ERRCODE = '23000';"
	  " END IF; RETURN NEW; END $$;"
	  "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	  " FOR EACH ROW EXECUTE FUNCTION audit_coalesce_only();"
	  "DROP TRIGGER audit_no_delete ON audit;"
	  "CREATE FUNCTION audit_purged_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
	  " IF OLD.ts >= COALESCE((SELECT cutoff FROM audit_purge WHERE id = 1), 0) THEN"
	  "  RAISE EXCEPTION 'audit is insert-only' USING ERRCODE = '23000';"
	  " END IF; RETURN OLD; END $$;"
	  "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	  " FOR EACH ROW EXECUTE FUNCTION audit_purged_only();"
	  "CREATE FUNCTION audit_purge_bounded() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
	  " IF NEW.id IS DISTINCT FROM OLD.id"
	  " OR NEW.cutoff > CAST(extract(epoch FROM now()) AS BIGINT) * 1000 - 86400000 THEN"
	  "  RAISE EXCEPTION 'the audit keeps at least its last day' USING ERRCODE = '23000';"
	  " END IF; RETURN NEW; END $$;"
	  "CREATE TRIGGER audit_purge_bounded BEFORE UPDATE ON audit_purge"
	  " FOR EACH ROW EXECUTE FUNCTION audit_purge_bounded();"
	  "CREATE FUNCTION audit_purge_one_row() RETURNS trigger LANGUAGE plpgsql AS $$"
	  " BEGIN RAISE EXCEPTION 'audit_purge has one row' USING ERRCODE = '23000'; END $$;"
	  "CREATE TRIGGER audit_purge_no_delete BEFORE DELETE ON audit_purge"
	  " FOR EACH ROW EXECUTE FUNCTION audit_purge_one_row();"
	  "CREATE TRIGGER audit_purge_no_insert BEFORE INSERT ON audit_purge"
	  " FOR EACH ROW EXECUTE FUNCTION audit_purge_one_row();" },
	/* What a token may call (auth_scope): 'all', or 'metrics:write' for
	 * ingest only. Existing tokens keep all they had. */
	{ 3,
	  "ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'all'"
	  " CHECK (scope IN ('all','metrics:write'));",
	  NULL, NULL },
};

const store_domain auth_store_domain = {
	.name = "auth",
	.migrations = migrations,
	.n = (int)(sizeof migrations / sizeof migrations[0]),
	.legacy = 1,
};
