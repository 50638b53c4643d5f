-- Measured with 450k audit events over 1,000 orgs (see the session notes):
--
-- The hash-chain trigger finds the previous event of an org with
--   ... WHERE org_id IS NULL ... ORDER BY chain_seq DESC LIMIT 1
-- for events without an org (support's logins, failed logins of unknown names), and IS NULL
-- cannot use the order of (org_id, chain_seq DESC): 16-45 ms per such insert, growing with the
-- table, while it holds the chain's advisory lock. With this index: 0.03 ms.
CREATE INDEX audit_events_null_chain_idx ON audit_events (chain_seq DESC) WHERE org_id IS NULL;

-- The audit page's filters by action and by user walked the whole time index (45-90 ms at that
-- volume, even for a tiny org); with these, every filter measured about 2 ms.
CREATE INDEX audit_events_action_time_idx ON audit_events (action, occurred_at DESC, id DESC);
CREATE INDEX audit_events_org_action_time_idx
    ON audit_events (org_id, action, occurred_at DESC, id DESC);
CREATE INDEX audit_events_actor_time_idx ON audit_events (lower(actor), occurred_at DESC, id DESC);
