-- Grain: one row per day x vhost. The headline numbers: hits (every parsed request, bots
-- included), pageviews, visitors (distinct visitor_id: full address + user agent, bots
-- included, see stg_requests), human visitors, bytes, status classes, time served.
with

requests as (
    select * from stg_requests
),

---------- logic

totals as (
    select
        day,
        vhost,
        count(*) as hits,
        count(*) filter (where is_pageview) as pageviews,
        count(distinct visitor_id) as visitors,
        count(distinct visitor_id) filter (where not is_bot) as human_visitors,
        -- truncated networks, or registered domains of clients logged by host name
        count(distinct coalesce(client_net, client_domain)) as unique_networks,
        sum(bytes) as bytes,
        count(*) filter (where is_bot) as bot_hits,
        coalesce(sum(bytes) filter (where is_bot), 0) as bot_bytes,
        count(*) filter (where status between 200 and 299) as status_2xx,
        count(*) filter (where status between 300 and 399) as status_3xx,
        count(*) filter (where status between 400 and 499) as status_4xx,
        count(*) filter (where status between 500 and 599) as status_5xx,
        count(time_served_us) as timed_hits,
        -- averages of integer microseconds: exact sums, so recomputing gives the same bits
        avg(time_served_us) / 1000 as avg_time_served_ms,
        quantile_cont(time_served_ms, 0.5) as p50_time_served_ms,
        quantile_cont(time_served_ms, 0.95) as p95_time_served_ms
    from requests
    group by day, vhost
),

final as (
    select
        day,
        vhost,
        hits,
        pageviews,
        visitors,
        human_visitors,
        unique_networks,
        cast(bytes as bigint) as bytes,
        bot_hits,
        cast(bot_bytes as bigint) as bot_bytes,
        status_2xx,
        status_3xx,
        status_4xx,
        status_5xx,
        timed_hits,
        avg_time_served_ms,
        p50_time_served_ms,
        p95_time_served_ms,
        getvariable('stats_visitors_exact') as visitors_exact
    from totals
)

select * from final
