-- Grain: one row per day x vhost x crawler name (bot requests: crawlerdetect or
-- ua-parser's Spider device). Hits add up to daily_traffic.bot_hits.
with

requests as (
    select * from stg_requests
),

---------- logic

bots as (
    select
        *,
        coalesce(bot_name, browser, 'Other') as crawler
    from requests
    where is_bot
),

crawlers as (
    select
        day,
        vhost,
        crawler as bot_name,
        count(*) as hits,
        sum(bytes) as bytes,
        count(distinct visitor_id) as visitors
    from bots
    group by day, vhost, crawler
),

final as (
    select
        day,
        vhost,
        bot_name,
        hits,
        cast(bytes as bigint) as bytes,
        visitors
    from crawlers
)

select * from final
