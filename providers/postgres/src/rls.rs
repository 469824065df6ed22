//! Row isolation: shared tables whose rows carry a `tenant_id` column and
//! are filtered by row-level security.
//!
//! The mechanism does not depend on any application schema. In the shared
//! database the provider keeps a schema `tenancy_rls` with one function,
//! `tenancy_rls.current_tenant()`, which returns the tenant id of the
//! current role: `acme` for `tenant_acme`, NULL for any role without the
//! `tenant_` prefix. Every table listed in `tables` gets row-level security
//! enabled and one policy, `tenancy_tenant_isolation`, shared by all tenants:
//! `USING (tenant_id = tenancy_rls.current_tenant())` with the same `WITH
//! CHECK`, so a tenant role reads and writes only its own rows. Table owners
//! and superusers bypass the policy, as PostgreSQL does for any policy
//! without `FORCE ROW LEVEL SECURITY`.

use tokio_postgres::Transaction;

use crate::error::{Error, Result, query};
use crate::spec::{ROLE_PREFIX, TenantSpec};
use crate::sql::{TableName, ident, literal, qualified};

/// The schema that holds the row-isolation function.
pub const RLS_SCHEMA: &str = "tenancy_rls";

/// The name of the policy placed on every shared table.
pub const POLICY_NAME: &str = "tenancy_tenant_isolation";

/// The name of the column that policies compare with the tenant id.
pub const TENANT_COLUMN: &str = "tenant_id";

/// Sets up the function, the policies on the listed tables and the role's
/// grants, and revokes the role's grants on `prior_tables` that are no
/// longer listed. Runs inside the caller's locked transaction.
pub async fn converge(transaction: &Transaction<'_>, spec: &TenantSpec, prior_tables: &[TableName]) -> Result<()> {
    install_function(transaction).await?;
    let role = ident(&spec.role);
    let statement = format!("GRANT USAGE ON SCHEMA {} TO {role}", ident(RLS_SCHEMA));
    transaction
        .batch_execute(&statement)
        .await
        .map_err(query(format!("grant `{}` use of schema `{RLS_SCHEMA}`", spec.role)))?;

    for table in &spec.tables {
        check_table(transaction, spec, table).await?;
        protect_table(transaction, table).await?;
        let statements = format!(
            "GRANT USAGE ON SCHEMA {} TO {role}; GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {role}",
            ident(table.schema_or_public()),
            qualified(table)
        );
        transaction
            .batch_execute(&statements)
            .await
            .map_err(query(format!("grant `{}` access to table `{}`", spec.role, table.display())))?;
    }

    for table in prior_tables.iter().filter(|table| !spec.tables.contains(table)) {
        let exists = transaction
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified(table)])
            .await
            .map_err(query(format!("look up table `{}`", table.display())))?;
        if exists.get(0) {
            let statement = format!("REVOKE ALL ON {} FROM {role}", qualified(table));
            transaction
                .batch_execute(&statement)
                .await
                .map_err(query(format!("revoke `{}`'s access to table `{}`", spec.role, table.display())))?;
        }
    }
    Ok(())
}

/// Returns the SQL that defines `tenancy_rls.current_tenant()`.
pub fn function_definition() -> String {
    let prefix_length = ROLE_PREFIX.len();
    // LIKE treats `_` as a wildcard, so the prefix test uses left() instead.
    format!(
        "CREATE OR REPLACE FUNCTION {schema}.current_tenant() RETURNS text \
         LANGUAGE sql STABLE PARALLEL SAFE \
         AS $tenancy$ SELECT CASE WHEN left(current_user, {prefix_length}) = {prefix} \
         THEN substr(current_user, {start}) END $tenancy$",
        schema = ident(RLS_SCHEMA),
        prefix = literal(ROLE_PREFIX),
        start = prefix_length + 1,
    )
}

async fn install_function(transaction: &Transaction<'_>) -> Result<()> {
    let statements = format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC; {function}",
        schema = ident(RLS_SCHEMA),
        function = function_definition()
    );
    transaction
        .batch_execute(&statements)
        .await
        .map_err(query(format!("install the row-isolation function in schema `{RLS_SCHEMA}`")))
}

/// Checks that a listed table exists and has a `tenant_id` column.
async fn check_table(transaction: &Transaction<'_>, spec: &TenantSpec, table: &TableName) -> Result<()> {
    let row = transaction
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL, EXISTS (SELECT 1 FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped)",
            &[&qualified(table), &TENANT_COLUMN],
        )
        .await
        .map_err(query(format!("look up table `{}`", table.display())))?;
    let (exists, has_column): (bool, bool) = (row.get(0), row.get(1));
    if !exists {
        return Err(Error::Invalid(format!(
            "table `{}` listed in `tables` does not exist in database `{}`; create it before applying \
             row isolation, or remove it from `tables`",
            table.display(),
            spec.database
        )));
    }
    if !has_column {
        return Err(Error::Invalid(format!(
            "table `{}` has no `{TENANT_COLUMN}` column; row isolation compares that column with the \
             tenant id, so add a text column `{TENANT_COLUMN}` to it",
            table.display()
        )));
    }
    Ok(())
}

/// Enables row-level security on a table and (re)creates the shared policy,
/// which also repairs a policy edited by hand.
async fn protect_table(transaction: &Transaction<'_>, table: &TableName) -> Result<()> {
    let name = qualified(table);
    let condition = format!("{TENANT_COLUMN} = {}.current_tenant()", ident(RLS_SCHEMA));
    let statements = format!(
        "ALTER TABLE {name} ENABLE ROW LEVEL SECURITY; \
         DROP POLICY IF EXISTS {policy} ON {name}; \
         CREATE POLICY {policy} ON {name} USING ({condition}) WITH CHECK ({condition})",
        policy = ident(POLICY_NAME),
    );
    transaction
        .batch_execute(&statements)
        .await
        .map_err(query(format!("enable row-level security on table `{}`", table.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_strips_role_prefix() {
        let definition = function_definition();

        assert!(definition.contains("left(current_user, 7) = 'tenant_'"));
        assert!(definition.contains("substr(current_user, 8)"));
    }
}
