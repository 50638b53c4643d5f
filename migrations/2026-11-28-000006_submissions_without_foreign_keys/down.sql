-- What ON DELETE SET NULL would have done to the submissions of tokens deleted meanwhile.
UPDATE submissions s SET token_id = NULL
 WHERE token_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM sandbox_api_tokens t WHERE t.id = s.token_id);
DELETE FROM submissions s
 WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = s.org_id);
ALTER TABLE submissions
    ADD CONSTRAINT submissions_org_id_fkey
        FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    ADD CONSTRAINT submissions_token_id_fkey
        FOREIGN KEY (token_id) REFERENCES sandbox_api_tokens (id) ON DELETE SET NULL;
