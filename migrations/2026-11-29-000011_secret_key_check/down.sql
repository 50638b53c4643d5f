DROP TABLE secret_key_check;
