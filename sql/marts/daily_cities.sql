-- Grain: one row per day x vhost x (country, city) from GeoIP ('(unknown)' for a missing
-- country or city), plus at most one ('(other)', '(other)') row: every city with fewer
-- than k_min visitors is merged into it (privacy invariant 5). A visitor has one
-- address, hence one city, so every total still adds up to daily_traffic.
with

requests as (
    select * from stg_requests
),

---------- logic

cells as (
    select
        day,
        vhost,
        coalesce(country, '(unknown)') as country,
        coalesce(city, '(unknown)') as city,
        count(*) as hits,
        count(*) filter (where is_pageview) as pageviews,
        sum(bytes) as bytes,
        count(distinct visitor_id) as visitors
    from requests
    group by all
),

suppressed as (
    select
        *,
        visitors < getvariable('k_min') as is_small
    from cells
),

merged as (
    select
        day,
        vhost,
        case when is_small then '(other)' else country end as country,
        case when is_small then '(other)' else city end as city,
        sum(hits) as hits,
        sum(pageviews) as pageviews,
        sum(bytes) as bytes,
        sum(visitors) as visitors,
        count(*) as cells
    from suppressed
    group by all
),

final as (
    select
        day,
        vhost,
        country,
        city,
        cast(hits as bigint) as hits,
        cast(pageviews as bigint) as pageviews,
        cast(bytes as bigint) as bytes,
        cast(visitors as bigint) as visitors,
        cast(cells as integer) as cells
    from merged
)

select * from final
