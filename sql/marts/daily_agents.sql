-- Grain: one row per day x vhost x browser family x OS family x device class, for human
-- (non-bot) requests; bots are in daily_bots. A visitor has one user agent, so visitors
-- add up to daily_traffic.human_visitors.
with

requests as (
    select * from stg_requests
),

---------- logic

humans as (
    select * from requests
    where not is_bot
),

families as (
    select
        day,
        vhost,
        coalesce(browser, 'Other') as browser,
        coalesce(os, 'Other') as os,
        coalesce(device, 'other') as device,
        count(*) as hits,
        count(*) filter (where is_pageview) as pageviews,
        count(distinct visitor_id) as visitors
    from humans
    group by all
),

final as (
    select * from families
)

select * from final
