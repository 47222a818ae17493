-- Grain: one row per DETAIL request of the day being aggregated (variable stats_day; the
-- view `detail_batch` that pipelines.aggregate opens over that day's DETAIL files and
-- rows, the day of the view `requests`), with what every mart needs: flags, referrer
-- class and visitor_id.
--
-- visitor_id, when the variable stats_visitor_source is 'raw' (the day's RAW partition
-- covers every DETAIL row): the exact GoAccess-style visitor of stg_raw_visitors, joined
-- on (source_file_id, line_no). When it is 'detail' (RAW purged, or the day got lines
-- that were already too old for RAW): an approximate visitor, a hash of what DETAIL keeps
-- about the client (truncated network, client domain, GeoIP country/city/ASN) and its
-- user agent (families, major version, bot name). Either way one visitor maps to one
-- country, city and network, which is what makes the '(other)' rows' sums exact.
with

detail as (
    select * from detail_batch
    where day = getvariable('stats_day')
),

raw_visitors as (
    select source_file_id, line_no, visitor_id from stg_raw_visitors
),

referrer_classes as (
    select vhost, referrer_domain, referrer_class from stg_referrer_classes
),

---------- logic

flagged as (
    select
        *,
        -- an asset: the last segment of the path, query string excluded, ends in one of
        -- these extensions, in any case. One RE2 match per row: extracting the extension,
        -- lowering it and looking it up took twice as long.
        coalesce(regexp_matches(path, '^[^?]*\.(?i:'
            -- styles, scripts, source maps
            || 'css|js|mjs|map|'
            -- images and icons
            || 'png|jpg|jpeg|gif|webp|avif|svg|ico|bmp|tif|tiff|'
            -- fonts
            || 'woff|woff2|ttf|otf|eot|'
            -- audio and video
            || 'mp4|webm|ogg|ogv|mp3|wav|m4a|flac|'
            -- machine-read files (robots.txt, sitemaps, feeds, manifests)
            || 'txt|xml|json|webmanifest|'
            -- downloads
            || 'pdf|zip|gz|tgz|bz2|xz|zst|7z|rar|tar|dmg|exe|iso'
            || ')(?:\?|$)'), false) as is_asset
    from detail
),

with_visitor as (
    select
        f.*,
        case
            when getvariable('stats_visitor_source') = 'raw' then rv.visitor_id
            else hash(f.client_net, f.client_domain, f.country, f.city, f.asn,
                      f.browser, f.browser_major, f.os, f.device, f.is_bot, f.bot_name)
        end as visitor_id
    from flagged as f
    left join raw_visitors as rv
        on rv.source_file_id = f.source_file_id and rv.line_no = f.line_no
),

final as (
    select
        ---------- keys
        r.day,
        r.hour,
        r.vhost,
        r.visitor_id,
        ---------- request (the method only decides is_pageview: no mart reads it)
        r.path,
        r.status,
        r.bytes,
        r.time_served_ms,
        cast(round(r.time_served_ms * 1000) as bigint) as time_served_us,
        r.is_asset,
        not r.is_bot
            and not r.is_asset
            and r.method = 'GET'
            and (r.status between 200 and 299 or r.status = 304) as is_pageview,
        ---------- referrer
        r.referrer_domain,
        r.referrer_path,
        coalesce(rc.referrer_class, 'direct') as referrer_class,
        ---------- client (DETAIL level only)
        r.client_net,
        r.client_domain,
        r.country,
        r.city,
        r.asn,
        r.as_org,
        ---------- user agent families
        r.browser,
        r.os,
        r.device,
        r.is_bot,
        r.bot_name
    from with_visitor as r
    left join referrer_classes as rc
        on rc.vhost = r.vhost and rc.referrer_domain = r.referrer_domain
)

select * from final
