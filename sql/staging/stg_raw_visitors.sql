-- Grain: one row per RAW request line of the day being aggregated (the view
-- `stg_raw_keys`). The line's visitor_id, a hash of its visitor key (full address or host
-- name, and user agent). Only (source_file_id, line_no, visitor_id) leave this model: no
-- address, host name or user agent is copied into the warehouse. Opened as a temporary
-- view, used when stg_raw_visitor_collisions finds no two keys sharing an id.
with

keys as (
    select source_file_id, line_no, visitor_id from stg_raw_keys
),

final as (
    select
        source_file_id,
        line_no,
        visitor_id
    from keys
)

select * from final
