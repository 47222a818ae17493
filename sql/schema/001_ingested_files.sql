-- Grain: one row per ingested piece of a source log: a whole file, or the lines a growing
-- file gained since the last run. The ingest ledger: hashes and line counts, no content.
-- Reconciles by construction: lines_read = lines_parsed + lines_rejected.
create sequence if not exists ingested_files_seq start 1;

create table if not exists ingested_files (
    file_id          integer primary key,
    path             varchar not null,   -- absolute path, or '<stdin>'
    vhost            varchar,            -- configured vhost for lines that log none
    format           varchar not null,
    compression      varchar,            -- gzip | bzip2 | xz | zstd | null
    size             bigint not null,    -- bytes on disk when ingested
    sha256           varchar not null,   -- of the bytes on disk
    content_sha256   varchar not null,   -- of the decompressed content read
    head_sha256      varchar not null,   -- of the first 4 KiB of decompressed content
    content_start    bigint not null,    -- decompressed byte range of this piece
    content_end      bigint not null,
    device           bigint,
    inode            bigint,
    lines_read       bigint not null,
    lines_parsed     bigint not null,
    lines_rejected   bigint not null,
    lines_too_old    bigint not null,    -- parsed, but before the RAW window: DETAIL only
    lines_bad_client bigint not null,    -- parsed, client field unusable: RAW only
    first_ts         timestamp,          -- UTC
    last_ts          timestamp,          -- UTC
    as_of            date not null,      -- the run's as-of day (site time zone)
    ingested_at      timestamp not null, -- UTC
    check (lines_read = lines_parsed + lines_rejected)
);
