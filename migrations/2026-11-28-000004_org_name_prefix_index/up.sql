-- The support console searches organizations by name prefix, case-insensitively; this index
-- serves `lower(name) LIKE 'abc%'` at any collation.
CREATE INDEX organizations_lower_name_prefix_idx ON organizations (lower(name) text_pattern_ops);
