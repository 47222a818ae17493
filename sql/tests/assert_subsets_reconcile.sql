-- Tables that hold a subset of requests match the counters of daily_traffic and
-- daily_status: server errors = 5xx, not found = 404, bots = bot hits, external
-- referrers = the 'external' channel.
with

checks as (
    select 'daily_errors vs status_5xx' as check_name, t.day, t.vhost,
           t.status_5xx as expected,
           coalesce((select sum(e.hits) from daily_errors e
                     where e.day = t.day and e.vhost = t.vhost), 0) as actual
        from daily_traffic t
    union all
    select 'daily_not_found vs daily_status 404', t.day, t.vhost,
           coalesce((select sum(s.hits) from daily_status s
                     where s.day = t.day and s.vhost = t.vhost and s.status = 404), 0),
           coalesce((select sum(n.hits) from daily_not_found n
                     where n.day = t.day and n.vhost = t.vhost), 0)
        from daily_traffic t
    union all
    select 'daily_bots vs bot_hits', t.day, t.vhost, t.bot_hits,
           coalesce((select sum(b.hits) from daily_bots b
                     where b.day = t.day and b.vhost = t.vhost), 0)
        from daily_traffic t
    union all
    select 'daily_referrers vs external channel', t.day, t.vhost,
           coalesce((select sum(c.hits) from daily_channels c
                     where c.day = t.day and c.vhost = t.vhost
                       and c.referrer_class = 'external'), 0),
           coalesce((select sum(r.hits) from daily_referrers r
                     where r.day = t.day and r.vhost = t.vhost), 0)
        from daily_traffic t
    union all
    select 'status classes vs hits', t.day, t.vhost, t.hits,
           t.status_2xx + t.status_3xx + t.status_4xx + t.status_5xx
           + coalesce((select sum(s.hits) from daily_status s
                       where s.day = t.day and s.vhost = t.vhost
                         and (s.status is null or s.status < 200 or s.status > 599)), 0)
        from daily_traffic t
),

final as (
    select * from checks
    where expected <> actual
)

select * from final
