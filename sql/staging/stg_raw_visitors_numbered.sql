-- Grain: one row per RAW request line of the day being aggregated (the view
-- `stg_raw_keys`). Numbers the day's visitor keys exactly: one number per distinct (client
-- key, user agent) pair, NULLs included; which number a visitor gets does not matter, only
-- that equal pairs share it. Used for a day whose hashed ids collide
-- (stg_raw_visitor_collisions > 0); it costs a second pass (a join back to every line).
-- Only (source_file_id, line_no, visitor_id) leave this model.
with

keyed as (
    select source_file_id, line_no, client_key, user_agent from stg_raw_keys
),

visitors as (
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
