-- Grain: one row per day x vhost x external referring domain: the other sites that link
-- to this one. Search engines, social networks, internal referrers (stats.site_domains
-- and the vhost's own domain) and requests without a referrer are excluded here; they
-- are counted by class in daily_channels.
with

requests as (
    select * from stg_requests
),

---------- logic

external as (
    select * from requests
    where referrer_class = 'external'
),

domains as (
    select
        day,
        vhost,
        referrer_domain,
        referrer_class,
        count(*) as hits,
        count(*) filter (where is_pageview) as pageviews,
        count(distinct visitor_id) as visitors
    from external
    group by day, vhost, referrer_domain, referrer_class
),

final as (
    select * from domains
)

select * from final
