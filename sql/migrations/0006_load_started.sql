-- When each staging table's last successful load began: the next incremental load re-reads from
-- that instant minus an overlap (rows of upstream transactions still open then), instead of from
-- the watermark minus an overlap (which re-read every row of a recent bulk insert, however old
-- the previous load).
alter table staging.sources add column last_load_started_at timestamptz;
