-- Every committed change to the clients table notifies the channel the running instances listen
-- on (src/db/postgres/listen.ts), whoever makes it: the store, the CLI, or SQL typed by hand.
-- PostgreSQL delivers notifications at commit, only if the transaction commits, and folds
-- identical ones of one transaction into one. Row-level, so a statement that changes no row
-- notifies nothing; TRUNCATE (no rows to fire for) has its own statement-level trigger.
CREATE FUNCTION authnzd_clients_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('authnzd_clients', '');
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER clients_notify_rows AFTER INSERT OR UPDATE OR DELETE ON clients
  FOR EACH ROW EXECUTE FUNCTION authnzd_clients_notify();
--> statement-breakpoint
CREATE TRIGGER clients_notify_truncate AFTER TRUNCATE ON clients
  FOR EACH STATEMENT EXECUTE FUNCTION authnzd_clients_notify();
