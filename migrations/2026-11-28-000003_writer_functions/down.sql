DROP FUNCTION sandbox_write_batch(uuid[], uuid[], text[], text[], text[], int8[], text[], text[], timestamptz, date, uuid[], int4[], int4[], uuid[], int4[], int4[]);
DROP FUNCTION sandbox_lock_orgs(uuid[], date);
