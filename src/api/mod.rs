//! The SQL surface: thin functions over auth_core, grouped by contract section.
pub mod context;
pub mod jwt;
pub mod login;
pub mod pkce;
