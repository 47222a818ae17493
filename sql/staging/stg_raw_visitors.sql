-- Grain: one row per RAW request line of the day being aggregated (the view `raw_batch`
-- that pipelines.aggregate opens over DATA_DIR/raw/date=D/*.parquet, that day only).
-- Numbers visitors the way GoAccess counts them: lines with the same client (the full
-- address; else the client host name; else the client field as logged) and the same user
-- agent string get the same visitor_id. Only (source_file_id, line_no, visitor_id) leave
-- this model: no address, host name or user agent is copied into the warehouse.
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

visitors as (
    -- one number per distinct (client_key, user_agent) pair, NULLs included; which
    -- number a visitor gets does not matter, only that equal pairs share it
    select
        client_key,
        user_agent,
        row_number() over () as visitor_id
    from (select distinct client_key, user_agent from keyed)
),

final as (
    select
        k.source_file_id,
        k.line_no,
        cast(v.visitor_id as ubigint) as visitor_id
    from keyed as k
    inner join visitors as v
        on v.client_key is not distinct from k.client_key
        and v.user_agent is not distinct from k.user_agent
)

select * from final
