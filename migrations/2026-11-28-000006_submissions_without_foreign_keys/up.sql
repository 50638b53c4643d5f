-- `submissions` becomes a log like `audit_events`: its org_id and token_id record who made the
-- submission, without foreign keys.
--
-- Why: the two foreign-key checks (one trigger and one SPI query each, per row) were about half
-- the cost of recording a submission, and the only writer, sandbox_record_batch, already
-- guarantees what they checked: it inserts only calls whose token it read after locking the
-- token's org row, and deleting a token takes that same lock first.
--
-- And ON DELETE SET NULL made deleting a token rewrite every submission of it, found by a
-- sequential scan of the whole table (token_id has no index), while holding the org lock that
-- the submission writer waits for, so the Submission API of every org stalled for as long as
-- that took. A submission now keeps the id of the token that made it (as an audit row does);
-- no product query reads these columns, and organizations are never deleted.
ALTER TABLE submissions
    DROP CONSTRAINT submissions_org_id_fkey,
    DROP CONSTRAINT submissions_token_id_fkey;
