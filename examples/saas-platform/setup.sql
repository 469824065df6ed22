-- Creates the shared database and the application tables that row-isolated
-- tenants share. Run it once, as a superuser, before the first apply:
--
--   psql postgres://postgres@127.0.0.1:5432/postgres -f setup.sql
--
-- The postgres provider creates a missing shared database for schema
-- isolation, but row isolation needs the tables, with a text column
-- `tenant_id`, to exist first.

CREATE DATABASE saas_shared;

-- Only the roles that tenancy grants CONNECT to may connect.
REVOKE CONNECT, TEMPORARY ON DATABASE saas_shared FROM PUBLIC;

\connect saas_shared

REVOKE CREATE ON SCHEMA public FROM PUBLIC;

CREATE SCHEMA app;

CREATE TABLE app.orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text NOT NULL,
    customer    text NOT NULL,
    total_cents bigint NOT NULL CHECK (total_cents >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_tenant_id ON app.orders (tenant_id);

CREATE TABLE app.events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  text NOT NULL,
    kind       text NOT NULL,
    payload    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_tenant_id ON app.events (tenant_id);
