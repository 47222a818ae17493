-- Hits, bytes and pageviews of every breakdown add up to daily_traffic, per day x vhost:
-- a breakdown that loses or double-counts requests (or a suppression that drops cells)
-- shows up here. Returns the table, measure, and both sums.
with

traffic as (
    select day, vhost, 'hits' as measure, hits as value from daily_traffic
    union all select day, vhost, 'bytes', bytes from daily_traffic
    union all select day, vhost, 'pageviews', pageviews from daily_traffic
),

breakdown_rows as (
    select 'hourly_traffic' as table_name, day, vhost, hits, bytes, pageviews
        from hourly_traffic
    union all select 'daily_pages', day, vhost, hits, bytes, pageviews from daily_pages
    union all select 'daily_status', day, vhost, hits, bytes, null from daily_status
    union all select 'daily_channels', day, vhost, hits, null, pageviews from daily_channels
    union all select 'daily_countries', day, vhost, hits, bytes, pageviews from daily_countries
    union all select 'daily_cities', day, vhost, hits, bytes, pageviews from daily_cities
    union all select 'daily_networks', day, vhost, hits, bytes, pageviews from daily_networks
    union all select 'daily_agents + daily_bots', day, vhost, hits, null, pageviews
        from daily_agents
    union all select 'daily_agents + daily_bots', day, vhost, hits, bytes, 0 from daily_bots
),

---------- logic

measured as (
    -- which measures each breakdown carries
    select 'hits' as measure, * from (values ('hourly_traffic'), ('daily_pages'),
        ('daily_status'), ('daily_channels'), ('daily_countries'), ('daily_cities'),
        ('daily_networks'), ('daily_agents + daily_bots')) as t(table_name)
    union all
    select 'bytes', * from (values ('hourly_traffic'), ('daily_pages'), ('daily_status'),
        ('daily_countries'), ('daily_cities'), ('daily_networks')) as t(table_name)
    union all
    select 'pageviews', * from (values ('hourly_traffic'), ('daily_pages'),
        ('daily_channels'), ('daily_countries'), ('daily_cities'), ('daily_networks'),
        ('daily_agents + daily_bots')) as t(table_name)
),

sums as (
    select table_name, day, vhost, 'hits' as measure, sum(hits) as value
        from breakdown_rows group by all
    union all
    select table_name, day, vhost, 'bytes', sum(bytes) from breakdown_rows group by all
    union all
    select table_name, day, vhost, 'pageviews', sum(pageviews) from breakdown_rows group by all
),

final as (
    select m.table_name, t.day, t.vhost, t.measure,
           t.value as traffic_value, coalesce(s.value, 0) as breakdown_value
    from traffic t
    join measured m using (measure)
    left join sums s
        on s.table_name = m.table_name and s.day = t.day and s.vhost = t.vhost
        and s.measure = t.measure
    where t.value <> coalesce(s.value, 0)
)

select * from final
