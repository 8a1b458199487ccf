-- Rate-limit counters shared by replicas (when no Redis holds them): one row per
-- (class, subject, fixed window). Not user data: never audited, safe to lose,
-- pruned once window_end has passed. Times are Unix seconds.
CREATE TABLE rate_limit (
    class        TEXT   NOT NULL,
    subject      TEXT   NOT NULL,
    window_start BIGINT NOT NULL,
    window_end   BIGINT NOT NULL,
    hits         BIGINT NOT NULL,
    PRIMARY KEY (class, subject, window_start)
);
CREATE INDEX rate_limit_window_end ON rate_limit (window_end);
