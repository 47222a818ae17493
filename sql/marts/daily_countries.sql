-- Grain: one row per day x vhost x country (ISO code from GeoIP; '(unknown)' when the
-- client has no address or the address is not in the database), plus at most one
-- '(other)' row: every country with fewer than k_min visitors is merged into it (privacy
-- invariant 5). A visitor has one address, hence one country, so the merged row's
-- visitors are the sum of its cells' and every total still adds up to daily_traffic.
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
        cast(hits as bigint) as hits,
        cast(pageviews as bigint) as pageviews,
        cast(bytes as bigint) as bytes,
        cast(visitors as bigint) as visitors,
        cast(cells as integer) as cells
    from merged
)

select * from final
