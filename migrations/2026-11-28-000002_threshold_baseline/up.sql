-- R10 after a re-enable: support's enable starts the day's threshold count afresh from the calls
-- made so far, without rewriting how many calls were really made.
ALTER TABLE org_daily_usage ADD COLUMN threshold_baseline integer NOT NULL DEFAULT 0;
