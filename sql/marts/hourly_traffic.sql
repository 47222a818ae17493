-- Grain: one row per day x vhost x hour (site-local hour 0-23; hours without requests
-- have no row).
with

requests as (
    select * from stg_requests
),

---------- logic

hours as (
    select
        day,
        vhost,
        hour,
        count(*) as hits,
        count(*) filter (where is_pageview) as pageviews,
        count(distinct visitor_id) as visitors,
        sum(bytes) as bytes,
        count(*) filter (where is_bot) as bot_hits
    from requests
    group by day, vhost, hour
),

final as (
    select
        day,
        vhost,
        hour,
        hits,
        pageviews,
        visitors,
        cast(bytes as bigint) as bytes,
        bot_hits
    from hours
)

select * from final
