DROP INDEX audit_events_chain_idx;
DROP TRIGGER audit_events_chain ON audit_events;
DROP FUNCTION audit_events_chain();
DROP FUNCTION audit_row_digest(bytea, audit_events);
ALTER TABLE audit_events DROP COLUMN chain_seq;
