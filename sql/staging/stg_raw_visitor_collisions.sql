-- Grain: one row for the day being aggregated. collisions = distinct visitor keys of the
-- day (stg_raw_keys: client and user agent) minus distinct visitor ids: 0 when every key
-- has an id of its own, which makes counting distinct ids exact. A 64-bit hash makes a
-- collision among a day's keys very unlikely (about 1 in 10^9 for 200,000 keys), not
-- impossible; pipelines.aggregate numbers the day exactly when it happens.
with

keys as (
    select distinct client_key, user_agent, visitor_id from stg_raw_keys
),

final as (
    select count(*) - count(distinct visitor_id) as collisions
    from keys
)

select * from final
