-- Grain: one row per day x vhost x 404 path x referring domain x referring page. The
-- broken-links view: referrer_path is the site's own page that links to the missing path
-- (internal referrers only); referrer_domain is NULL for requests without a referrer.
with

requests as (
    select * from stg_requests
),

---------- logic

missing as (
    select * from requests
    where status = 404
),

links as (
    select
        day,
        vhost,
        path,
        referrer_domain,
        referrer_path,
        referrer_class,
        count(*) as hits,
        count(*) filter (where is_bot) as bot_hits,
        count(distinct visitor_id) as visitors
    from missing
    group by day, vhost, path, referrer_domain, referrer_path, referrer_class
),

final as (
    select * from links
)

select * from final
