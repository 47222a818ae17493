-- Grain: one row per day x vhost x referrer class (direct, internal, search, social,
-- external) x referring domain, where the domain is kept for search engines and social
-- networks only (NULL for the other classes, whose domains are in daily_referrers or
-- are the site's own). Hits add up to daily_traffic.hits.
with

requests as (
    select * from stg_requests
),

---------- logic

channels as (
    select
        day,
        vhost,
        referrer_class,
        case when referrer_class in ('search', 'social') then referrer_domain end
            as referrer_domain,
        is_pageview,
        visitor_id
    from requests
),

counted as (
    select
        day,
        vhost,
        referrer_class,
        referrer_domain,
        count(*) as hits,
        count(*) filter (where is_pageview) as pageviews,
        count(distinct visitor_id) as visitors
    from channels
    group by day, vhost, referrer_class, referrer_domain
),

final as (
    select * from counted
)

select * from final
