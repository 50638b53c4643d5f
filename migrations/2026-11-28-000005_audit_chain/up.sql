-- Tamper evidence for the audit trail (SPEC §7): every row carries a SHA-256 over its content
-- and the previous row's hash in the same org's chain (org_id NULL is a chain of its own), and
-- its position in that chain. A trigger fills them in, under a per-chain advisory lock, so every
-- writer (application, SQL functions, anything) is chained. `sandbox-portal audit verify`
-- recomputes the chain with the same function and reports the first broken link.
ALTER TABLE audit_events ADD COLUMN chain_seq bigint;

CREATE FUNCTION audit_row_digest(prev bytea, e audit_events) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(coalesce(prev, '\x'::bytea) || convert_to(concat_ws(E'\x1f',
        e.chain_seq::text,
        (extract(epoch FROM e.occurred_at) * 1000000)::bigint::text,
        e.actor, e.actor_user_id::text, e.actor_role, e.org_id::text, e.action,
        e.resource_id::text, e.resource_name, e.client_ip, e.interface, e.result,
        e.details::text), 'UTF8'))
$$;

CREATE FUNCTION audit_events_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last record;
BEGIN
    -- One writer per chain at a time; the lock is held until commit, and the query below (a
    -- new snapshot) then sees the previous writer's row.
    PERFORM pg_advisory_xact_lock(hashtext('audit:' || coalesce(NEW.org_id::text, '-')));
    -- Two forms so each is an index scan on (org_id, chain_seq DESC); IS NOT DISTINCT FROM is not.
    IF NEW.org_id IS NULL THEN
        SELECT row_hash, chain_seq INTO last FROM audit_events
         WHERE org_id IS NULL AND chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1;
    ELSE
        SELECT row_hash, chain_seq INTO last FROM audit_events
         WHERE org_id = NEW.org_id AND chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1;
    END IF;
    NEW.chain_seq := coalesce(last.chain_seq, 0) + 1;
    NEW.prev_hash := last.row_hash;
    NEW.row_hash := audit_row_digest(last.row_hash, NEW);
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_chain();

CREATE INDEX audit_events_chain_idx ON audit_events (org_id, chain_seq DESC);
