-- The retention purge (src/db/retention.rs) deletes usage rows by day. The primary keys lead
-- with the org or token, so without these every sweep (every ten minutes) read both tables in
-- full even when nothing was old. A row's day never changes and a new row comes once a day per
-- org or token, so the writer's upserts of today's counters stay HOT updates.
CREATE INDEX org_daily_usage_day_idx ON org_daily_usage (day);
CREATE INDEX token_daily_usage_day_idx ON token_daily_usage (day);
