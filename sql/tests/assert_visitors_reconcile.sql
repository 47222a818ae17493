-- Visitors add up where a visitor belongs to exactly one cell: countries, cities and
-- networks (one client -> one place and network, '(other)' included) to visitors; human
-- user-agent families to human_visitors; crawlers to the bot visitors.
with

traffic as (
    select day, vhost, visitors, human_visitors from daily_traffic
),

sums as (
    select 'daily_countries' as table_name, day, vhost, sum(visitors) as visitors
        from daily_countries group by day, vhost
    union all
    select 'daily_cities', day, vhost, sum(visitors) from daily_cities group by day, vhost
    union all
    select 'daily_networks', day, vhost, sum(visitors) from daily_networks group by day, vhost
    union all
    select 'daily_agents', day, vhost, sum(visitors) from daily_agents group by day, vhost
    union all
    select 'daily_bots', day, vhost, sum(visitors) from daily_bots group by day, vhost
),

expected as (
    select names.table_name, t.day, t.vhost,
           case names.table_name
               when 'daily_agents' then t.human_visitors
               when 'daily_bots' then t.visitors - t.human_visitors
               else t.visitors
           end as expected_visitors
    from traffic t
    cross join (select distinct table_name from sums) as names
),

final as (
    select e.table_name, e.day, e.vhost, e.expected_visitors, coalesce(s.visitors, 0) as visitors
    from expected e
    left join sums s using (table_name, day, vhost)
    where e.expected_visitors <> coalesce(s.visitors, 0)
)

select * from final
