-- Grain: one row per day x vhost x path (as kept in DETAIL: query values dropped except
-- anonymize.query_keep; NULL when the request line held no URL). Every path requested,
-- assets included (is_asset), so hits add up to daily_traffic.hits.
with

requests as (
    select * from stg_requests
),

---------- logic

paths as (
    select
        day,
        vhost,
        path,
        bool_or(is_asset) as is_asset,
        count(*) as hits,
        count(*) filter (where is_pageview) as pageviews,
        count(distinct visitor_id) as visitors,
        sum(bytes) as bytes,
        count(*) filter (where is_bot) as bot_hits,
        avg(time_served_us) / 1000 as avg_time_served_ms
    from requests
    group by day, vhost, path
),

final as (
    select
        day,
        vhost,
        path,
        is_asset,
        hits,
        pageviews,
        visitors,
        cast(bytes as bigint) as bytes,
        bot_hits,
        avg_time_served_ms
    from paths
)

select * from final
