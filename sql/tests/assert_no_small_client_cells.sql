-- Privacy invariant 5: in client-keyed tables, no cell other than '(other)' has fewer
-- than k_min visitors (variable k_min), and every '(other)' row really merged cells.
with

cells as (
    select 'daily_countries' as table_name, day, vhost, country as cell, visitors, cells
        from daily_countries
    union all
    select 'daily_cities', day, vhost, country || ' / ' || city, visitors, cells
        from daily_cities
    union all
    select 'daily_networks', day, vhost, network, visitors, cells
        from daily_networks
),

final as (
    select * from cells
    where (cell not in ('(other)', '(other) / (other)') and (visitors < getvariable('k_min') or cells <> 1))
       or (cell in ('(other)', '(other) / (other)') and cells < 1)
)

select * from final
