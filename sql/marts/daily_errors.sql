-- Grain: one row per day x vhost x path x status, for server errors (5xx).
with

requests as (
    select * from stg_requests
),

---------- logic

errors as (
    select
        day,
        vhost,
        path,
        status,
        count(*) as hits,
        count(distinct visitor_id) as visitors
    from requests
    where status between 500 and 599
    group by day, vhost, path, status
),

final as (
    select * from errors
)

select * from final
