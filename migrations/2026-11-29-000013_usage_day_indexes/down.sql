DROP INDEX token_daily_usage_day_idx;
DROP INDEX org_daily_usage_day_idx;
