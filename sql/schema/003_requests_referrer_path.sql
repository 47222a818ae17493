-- DETAIL gains the path of an INTERNAL referrer (the site's own page that linked to the
-- request), for the broken-links view of daily_not_found. Only when the referrer's
-- registered domain is one of stats.site_domains or the request's own vhost; query and
-- fragment dropped, address literals masked like `path`. External referrer paths stay in
-- RAW only: they can carry personal data (search terms, tokens, names).
alter table requests add column referrer_path varchar;
