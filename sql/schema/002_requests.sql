-- Grain: one row per parsed request line (DETAIL tier), kept `detail_days`.
-- No full address, no query values (except anonymize.query_keep), no user agent string,
-- no remote user: only truncated networks, registered domains and families.
-- Key: (source_file_id, line_no).
create table if not exists requests (
    ts              timestamp not null,  -- UTC instant
    day             date not null,       -- site-local date
    hour            tinyint not null,    -- site-local hour
    vhost           varchar not null,
    client_net      varchar,             -- '203.0.113.0/24'; null when the client field held no address
    ip_version      tinyint,
    client_domain   varchar,             -- registered domain when the log held a host name
    method          varchar,
    path            varchar,             -- query values dropped except anonymize.query_keep
    protocol        varchar,
    status          smallint,
    bytes           bigint not null,
    referrer_domain varchar,
    browser         varchar,
    browser_major   varchar,
    os              varchar,
    device          varchar,             -- desktop | mobile | tablet | bot | other
    is_bot          boolean not null,
    bot_name        varchar,
    country         varchar,             -- ISO code from GeoIP2 `country`
    city            varchar,
    asn             integer,
    as_org          varchar,
    time_served_ms  double,
    source_file_id  integer not null,
    line_no         bigint not null
);
