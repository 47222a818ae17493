-- Grain: one row per day x vhost x HTTP status code.
with

requests as (
    select * from stg_requests
),

---------- logic

codes as (
    select
        day,
        vhost,
        status,
        count(*) as hits,
        count(*) filter (where is_bot) as bot_hits,
        sum(bytes) as bytes
    from requests
    group by day, vhost, status
),

final as (
    select
        day,
        vhost,
        status,
        hits,
        bot_hits,
        cast(bytes as bigint) as bytes
    from codes
)

select * from final
