-- Grain: one row per day x vhost x network, plus at most one '(other)' row. A network is
-- the client's autonomous system (asn, as_org from GeoIP, network = 'AS<asn>') when the
-- client logged an address, or the registered domain of its host name (client_domain,
-- network = that domain) when the log held host names; '(unknown)' otherwise. Networks
-- with fewer than k_min visitors are merged into '(other)' (privacy invariant 5). A
-- visitor's address (or host name) gives exactly one network, so totals add up to
-- daily_traffic.
with

requests as (
    select * from stg_requests
),

---------- logic

cells as (
    select
        day,
        vhost,
        asn,
        client_domain,
        min(as_org) as as_org,
        count(*) as hits,
        count(*) filter (where is_pageview) as pageviews,
        sum(bytes) as bytes,
        count(distinct visitor_id) as visitors
    from requests
    group by day, vhost, asn, client_domain
),

labelled as (
    select
        *,
        coalesce(nullif(concat_ws(' ', 'AS' || asn, client_domain), ''), '(unknown)') as network,
        visitors < getvariable('k_min') as is_small
    from cells
),

merged as (
    select
        day,
        vhost,
        case when is_small then '(other)' else network end as network,
        case when is_small then null else asn end as asn,
        case when is_small then null else as_org end as as_org,
        case when is_small then null else client_domain end as client_domain,
        sum(hits) as hits,
        sum(pageviews) as pageviews,
        sum(bytes) as bytes,
        sum(visitors) as visitors,
        count(*) as cells
    from labelled
    group by all
),

final as (
    select
        day,
        vhost,
        network,
        asn,
        as_org,
        client_domain,
        cast(hits as bigint) as hits,
        cast(pageviews as bigint) as pageviews,
        cast(bytes as bigint) as bytes,
        cast(visitors as bigint) as visitors,
        cast(cells as integer) as cells
    from merged
)

select * from final
