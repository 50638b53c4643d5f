DROP FUNCTION sandbox_record_batch_fast(bytea[], uuid[], text[], text[], text[], int8[], text[], text[], timestamptz);
