-- Grain: one row per recorded deletion: a purge step (RAW day partitions, rejects
-- partitions, DETAIL rows, source log files), a data-subject erasure, or a rewrite of the
-- warehouse file. The deletion ledger (privacy invariant 4), written by pipelines.ledger
-- only, appended and never updated or deleted; mirrored line by line in
-- DATA_DIR/audit/ledger.jsonl.
-- hash = SHA-256 of the canonical JSON of every other column (policy and details as JSON
-- objects, recorded_at as 'YYYY-MM-DDTHH:MM:SS.ffffffZ'); prev_hash = the hash of the entry
-- before (64 zeros for the first), so editing, removing or reordering an entry breaks the
-- chain. No personal data: no address, no host name, no URL, only partition and file
-- names, SHA-256 of removed files, dates and counts.
create table if not exists purge_ledger (
    sequence     bigint primary key,   -- 1, 2, 3 ... without gaps
    recorded_at  timestamp not null,   -- UTC
    action       varchar not null,     -- purge_raw | purge_rejects | purge_detail |
                                       -- purge_source | erase_subject | rewrite_warehouse
    result       varchar not null,     -- removed | erased | rewritten (+ ' after interruption')
    cutoff       date,                 -- first day kept (site time zone); null for erasures
    operator     varchar not null,     -- user@machine that ran the command
    policy       varchar not null,     -- canonical JSON: retention policy in force + its hash
    details      varchar not null,     -- canonical JSON: what was removed (names, hashes, counts)
    prev_hash    varchar not null,
    hash         varchar not null unique
);
