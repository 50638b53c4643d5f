ALTER TABLE org_daily_usage DROP COLUMN threshold_baseline;
