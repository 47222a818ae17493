-- Every day in the marts is recorded in stats_days with the same exactness flag, and
-- every stats day has its daily_traffic rows.
with

traffic_days as (
    select day, bool_and(visitors_exact) as exact, bool_or(visitors_exact) as any_exact
    from daily_traffic group by day
),

final as (
    select coalesce(t.day, s.day) as day, t.exact, s.visitors_exact
    from traffic_days t
    full join stats_days s using (day)
    where t.day is null or s.day is null
       or t.exact <> s.visitors_exact or t.any_exact <> s.visitors_exact
)

select * from final
