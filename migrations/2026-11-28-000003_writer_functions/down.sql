DROP FUNCTION sandbox_record_batch(bytea[], uuid[], text[], text[], text[], int8[], text[], text[], timestamptz);
