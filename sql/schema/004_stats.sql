-- The STATS tier: daily tables kept forever, recomputed per day by pipelines.aggregate
-- from the models in sql/marts/ (one file per table; grain and columns documented there
-- and in the README's "Statistics" section). No column holds a full address, a user agent
-- string or a referrer URL; client-keyed tables (countries, cities, networks) merge cells
-- with fewer than stats.k_min visitors into one '(other)' row per day and vhost.

-- Grain: one row per site-local day with statistics: when they were computed and which
-- ingests they cover. A day is current while no DETAIL row of it comes from an ingest
-- (ingested_files.file_id) newer than ingest_watermark.
create table if not exists stats_days (
    day                date primary key,
    stats_computed_at  timestamp not null,  -- UTC
    ingest_watermark   integer not null,    -- max(ingested_files.file_id) when computed
    detail_rows        bigint not null,     -- DETAIL rows of the day that were aggregated
    visitors_exact     boolean not null,    -- visitors counted on full address + user agent
    visitor_source     varchar not null     -- 'raw' | 'detail'
        check (visitor_source in ('raw', 'detail'))
);

create table if not exists daily_traffic (
    day                 date not null,
    vhost               varchar not null,
    hits                bigint not null,
    pageviews           bigint not null,
    visitors            bigint not null,
    human_visitors      bigint not null,
    unique_networks     bigint not null,
    bytes               bigint not null,
    bot_hits            bigint not null,
    bot_bytes           bigint not null,
    status_2xx          bigint not null,
    status_3xx          bigint not null,
    status_4xx          bigint not null,
    status_5xx          bigint not null,
    timed_hits          bigint not null,
    avg_time_served_ms  double,
    p50_time_served_ms  double,
    p95_time_served_ms  double,
    visitors_exact      boolean not null
);

create table if not exists hourly_traffic (
    day        date not null,
    vhost      varchar not null,
    hour       tinyint not null,
    hits       bigint not null,
    pageviews  bigint not null,
    visitors   bigint not null,
    bytes      bigint not null,
    bot_hits   bigint not null
);

create table if not exists daily_pages (
    day                 date not null,
    vhost               varchar not null,
    path                varchar,
    is_asset            boolean not null,
    hits                bigint not null,
    pageviews           bigint not null,
    visitors            bigint not null,
    bytes               bigint not null,
    bot_hits            bigint not null,
    avg_time_served_ms  double
);

create table if not exists daily_not_found (
    day              date not null,
    vhost            varchar not null,
    path             varchar,
    referrer_domain  varchar,
    referrer_path    varchar,
    referrer_class   varchar not null,
    hits             bigint not null,
    bot_hits         bigint not null,
    visitors         bigint not null
);

create table if not exists daily_errors (
    day       date not null,
    vhost     varchar not null,
    path      varchar,
    status    smallint not null,
    hits      bigint not null,
    visitors  bigint not null
);

create table if not exists daily_status (
    day       date not null,
    vhost     varchar not null,
    status    smallint,
    hits      bigint not null,
    bot_hits  bigint not null,
    bytes     bigint not null
);

create table if not exists daily_referrers (
    day              date not null,
    vhost            varchar not null,
    referrer_domain  varchar not null,
    referrer_class   varchar not null,
    hits             bigint not null,
    pageviews        bigint not null,
    visitors         bigint not null
);

create table if not exists daily_channels (
    day              date not null,
    vhost            varchar not null,
    referrer_class   varchar not null,
    referrer_domain  varchar,
    hits             bigint not null,
    pageviews        bigint not null,
    visitors         bigint not null
);

create table if not exists daily_agents (
    day        date not null,
    vhost      varchar not null,
    browser    varchar not null,
    os         varchar not null,
    device     varchar not null,
    hits       bigint not null,
    pageviews  bigint not null,
    visitors   bigint not null
);

create table if not exists daily_bots (
    day       date not null,
    vhost     varchar not null,
    bot_name  varchar not null,
    hits      bigint not null,
    bytes     bigint not null,
    visitors  bigint not null
);

create table if not exists daily_countries (
    day        date not null,
    vhost      varchar not null,
    country    varchar not null,
    hits       bigint not null,
    pageviews  bigint not null,
    bytes      bigint not null,
    visitors   bigint not null,
    cells      integer not null
);

create table if not exists daily_cities (
    day        date not null,
    vhost      varchar not null,
    country    varchar not null,
    city       varchar not null,
    hits       bigint not null,
    pageviews  bigint not null,
    bytes      bigint not null,
    visitors   bigint not null,
    cells      integer not null
);

create table if not exists daily_networks (
    day            date not null,
    vhost          varchar not null,
    network        varchar not null,
    asn            integer,
    as_org         varchar,
    client_domain  varchar,
    hits           bigint not null,
    pageviews      bigint not null,
    bytes          bigint not null,
    visitors       bigint not null,
    cells          integer not null
);
