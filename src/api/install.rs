//! The install script's first and last steps: schema sae_internal (the extension's private
//! functions, which only its owner may execute or create in) and the privilege pin that
//! leaves every function, table and schema of the extension with exactly the privileges
//! README.md states, whatever default privileges exist.
//!
//! SECURITY: CREATE EXTENSION runs this script as a superuser with search_path set to the
//! extension's schema, where the database owner may have planted functions that a call such
//! as format(...) would pick over pg_catalog's. So the script runs no logic of its own: every
//! check and loop is a function below with `SET search_path = pg_catalog, pg_temp`, called
//! schema-qualified. The same functions are (re)created by every upgrade script.

pgrx::extension_sql_file!(
    "../../sql/surface/install_bootstrap.sql",
    name = "install_bootstrap",
    bootstrap
);

pgrx::extension_sql_file!(
    "../../sql/surface/install_finalize.sql",
    name = "install_finalize",
    finalize
);
