-- Grain: one row per RAW request line of the day being aggregated (the view `raw_batch`
-- that pipelines.aggregate opens over DATA_DIR/raw/date=D/*.parquet, that day only).
-- The visitor key the way GoAccess counts visitors: lines with the same client (the full
-- address; else the client host name; else the client field as logged) and the same user
-- agent string are one visitor. visitor_id is a 64-bit hash of that key: equal keys get
-- equal ids, and before using them pipelines.aggregate checks that no two different keys
-- of the day share one (else the day is numbered exactly, stg_raw_visitors_numbered).
-- Opened as a temporary view, never stored: it holds full addresses and user agents.
with

raw_lines as (
    select
        source_file_id,
        line_no,
        client_address,
        client_hostname,
        client,
        user_agent
    from raw_batch
),

keyed as (
    select
        source_file_id,
        line_no,
        coalesce(client_address, client_hostname, client) as client_key,
        user_agent
    from raw_lines
),

final as (
    select
        source_file_id,
        line_no,
        client_key,
        user_agent,
        hash(client_key, user_agent) as visitor_id
    from keyed
)

select * from final
