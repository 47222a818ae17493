-- Grain: one row per Parquet file of the DETAIL tier under DATA_DIR/detail/ (pipelines.detail).
-- DETAIL moves out of the warehouse into day-partitioned Parquet files; `requests` becomes
-- a view over the files this table lists and the table `detail_rows`, which keeps the rows
-- that warehouses from before this migration stored (purged and erased with DELETE there,
-- until their days expire). A file is DETAIL exactly when it is listed here.
alter table requests rename to detail_rows;
create table if not exists detail_files (
    name      varchar primary key,  -- relative to DATA_DIR: detail/date=YYYY-MM-DD/F-C.parquet
    day       date not null,        -- site-local date of every row in the file
    file_id   integer not null,     -- ingested_files.file_id: the rows' source_file_id
    row_count bigint not null
);
-- pipelines.detail.refresh_view redefines it over the listed files on every change
create view requests as select * from detail_rows;
