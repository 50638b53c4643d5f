-- One row: a fingerprint of the SECRET_KEY this database's token values were sealed with (an
-- HMAC of a fixed label under a key derived from it, which tells nothing about the key). A
-- process started with another key would create values that never work and fail to reveal the
-- old ones; it is refused at start instead (db::check_secret_key).
CREATE TABLE secret_key_check (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    fingerprint text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
