-- Every mart has one row per key (NULL keys compare equal here, as in GROUP BY).
-- Returns the offending table and key.
with

duplicates as (
    select 'daily_traffic' as table_name, day, vhost, null as k from daily_traffic
        group by day, vhost having count(*) > 1
    union all
    select 'hourly_traffic', day, vhost, hour::varchar from hourly_traffic
        group by day, vhost, hour having count(*) > 1
    union all
    select 'daily_pages', day, vhost, path from daily_pages
        group by day, vhost, path having count(*) > 1
    union all
    select 'daily_not_found', day, vhost, concat_ws(' ', path, referrer_domain, referrer_path)
        from daily_not_found
        group by day, vhost, path, referrer_domain, referrer_path having count(*) > 1
    union all
    select 'daily_errors', day, vhost, concat_ws(' ', path, status) from daily_errors
        group by day, vhost, path, status having count(*) > 1
    union all
    select 'daily_status', day, vhost, status::varchar from daily_status
        group by day, vhost, status having count(*) > 1
    union all
    select 'daily_referrers', day, vhost, referrer_domain from daily_referrers
        group by day, vhost, referrer_domain having count(*) > 1
    union all
    select 'daily_channels', day, vhost, concat_ws(' ', referrer_class, referrer_domain)
        from daily_channels
        group by day, vhost, referrer_class, referrer_domain having count(*) > 1
    union all
    select 'daily_agents', day, vhost, concat_ws(' ', browser, os, device) from daily_agents
        group by day, vhost, browser, os, device having count(*) > 1
    union all
    select 'daily_bots', day, vhost, bot_name from daily_bots
        group by day, vhost, bot_name having count(*) > 1
    union all
    select 'daily_countries', day, vhost, country from daily_countries
        group by day, vhost, country having count(*) > 1
    union all
    select 'daily_cities', day, vhost, concat_ws(' ', country, city) from daily_cities
        group by day, vhost, country, city having count(*) > 1
    union all
    select 'daily_networks', day, vhost, network from daily_networks
        group by day, vhost, network having count(*) > 1
    union all
    select 'stats_days', day, null, null from stats_days
        group by day having count(*) > 1
),

final as (
    select * from duplicates
)

select * from final
