-- Schema version 5: per-account send counts for `[relay] max_messages_per_day` in
-- hourly buckets. send_log had one row per message, so every check counted every
-- message the account had sent that day: O(volume) per message, a millisecond at
-- 20,000 (an account whose limit was raised for a newsletter). Now a check reads at
-- most 24 rows. The old rows are dropped: the limits start afresh once, as they do
-- when the index is lost.
DROP TABLE IF EXISTS send_log;
CREATE TABLE send_count (
    user TEXT    NOT NULL,
    hour INTEGER NOT NULL,                      -- unix seconds / 3600
    n    INTEGER NOT NULL,                      -- messages sent outside in that hour
    PRIMARY KEY (user, hour)
) STRICT, WITHOUT ROWID;
