//! The edge's one error type: every error the extension raises, from Rust or from its SQL
//! (through `sae_internal.flow_raise` and `sae_internal.raise`), with its SQLSTATE, message,
//! detail and hint mapped in one place ([`Error::report`]).
//!
//! SECURITY: no variant carries a token, a secret or key material; core messages never do
//! (auth_core's error.rs) and nothing is added here but names and fixed text.
use crate::gucs::SessionCheck;
use auth_core::{AuthError, Credential, FlowReason, Reason};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgSqlErrorCode::{self, *};

#[derive(Debug)]
pub enum Error {
    /// A core error: 28000 for a token or a flow's code or refresh token, 22023 for a key or
    /// an option (contract section 5).
    Core(AuthError),
    /// A core error with a DETAIL of its own (a flow's option refusal that explains itself).
    Detailed { core: AuthError, detail: String },
    /// auth.authenticate's API key is refused (28000).
    ApiKey { detail: String },
    /// auth.token's client is unknown, or its secret missing or wrong (28000).
    InvalidClient { detail: Option<String> },
    /// A provider token does not open under auth.vault_key (XX001).
    VaultCorrupt,
    /// auth.login to a role it may not switch to (42501).
    RoleNotAllowed { role: String, why: &'static str },
    /// auth.login or auth.authenticate outside a transaction block (25P01).
    NoTransactionBlock { what: &'static str },
    /// A flow called outside READ COMMITTED (0A000).
    NotReadCommitted,
    /// A flow called on a hot standby (25006).
    Standby,
    /// auth.session_check cannot read its store (55000).
    SessionStore { mode: SessionCheck, what: String },
    /// The flows' autonomous commit found no worker slot (53000).
    NoWorker { failed: &'static str },
    /// The flows' autonomous commit did not happen (XX000).
    NotCommitted {
        failed: &'static str,
        why: &'static str,
    },
    /// 0.2.0's auth._flow_commit, kept only as a symbol (0A000).
    FlowCommitGone,
    /// CREATE EXTENSION finds pgjwt's functions in schema pgjwt (42723).
    PgjwtInstalled,
    /// CREATE EXTENSION finds schema pgjwt owned by a role that is not a superuser (42501).
    PgjwtOwner,
    /// use_native_helpers(false) finds a replaced helper dropped or changed (55000).
    HelperChanged { signature: String },
    /// Our own SQL asked to raise something this build does not know (XX000).
    Internal(String),
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Error::Core(e)
    }
}

impl From<Error> for ErrorReport {
    fn from(e: Error) -> Self {
        e.report()
    }
}

fn new(code: PgSqlErrorCode, message: impl Into<String>) -> ErrorReport {
    ErrorReport::new(code, message.into(), "")
}

impl Error {
    /// The one mapping to PostgreSQL's error: SQLSTATE, message, detail, hint.
    pub fn report(self) -> ErrorReport {
        match self {
            Error::Core(e) => {
                let message = e.to_string();
                match e {
                    AuthError::Token { detail, .. } => {
                        new(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, message).set_detail(detail)
                    }
                    AuthError::Flow { detail, .. } => {
                        let r = new(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, message);
                        match detail {
                            Some(d) => r.set_detail(d),
                            None => r,
                        }
                    }
                    AuthError::InvalidKey(_) | AuthError::InvalidOption(_) => {
                        new(ERRCODE_INVALID_PARAMETER_VALUE, message)
                    }
                }
            }
            Error::Detailed { core, detail } => Error::Core(core).report().set_detail(detail),
            Error::InvalidClient { detail } => {
                let r = new(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, "invalid client");
                match detail {
                    Some(d) => r.set_detail(d),
                    None => r,
                }
            }
            Error::VaultCorrupt => new(
                ERRCODE_DATA_CORRUPTED,
                "a provider token does not open under auth.vault_key",
            )
            .set_detail(
                "It was altered, copied from another subject or provider, or sealed under another vault key."
                    .to_owned(),
            ),
            Error::ApiKey { detail } => {
                new(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, "invalid API key").set_detail(detail)
            }
            Error::RoleNotAllowed { role, why } => new(
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!("role {} is not allowed", auth_core::json::quote(&role)),
            )
            .set_detail(why.to_owned()),
            Error::NoTransactionBlock { what } => new(
                ERRCODE_NO_ACTIVE_SQL_TRANSACTION,
                format!("{what} can only be used in transaction blocks"),
            )
            .set_hint(
                "Its role switch and claims last until the end of the transaction: call it after BEGIN."
                    .to_owned(),
            ),
            Error::NotReadCommitted => new(
                ERRCODE_FEATURE_NOT_SUPPORTED,
                "auth flows run only in READ COMMITTED transactions",
            )
            .set_hint(
                "A revocation committed meanwhile must be seen; call the flow outside REPEATABLE \
                 READ and SERIALIZABLE transactions."
                    .to_owned(),
            ),
            Error::Standby => new(
                ERRCODE_READ_ONLY_SQL_TRANSACTION,
                "auth flows cannot run on a hot standby",
            )
            .set_hint(
                "Call auth.pkce_begin, pkce_exchange, refresh, resume and revoke_* on the primary; \
                 auth.login and jwt_verify work here."
                    .to_owned(),
            ),
            Error::SessionStore { mode, what } => {
                let hint = match mode {
                    SessionCheck::Flows => "CREATE EXTENSION supabase_auth_ext in this database, or set auth.session_check only where it is installed.",
                    _ => "Set auth.session_check = 'supabase' only in a database where Supabase Auth keeps auth.sessions (id uuid primary key, user_id uuid, not_after timestamptz).",
                };
                new(
                    ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!("auth.session_check cannot read its sessions: {what}"),
                )
                .set_hint(hint.to_owned())
            }
            Error::NoWorker { failed } => commit_failed(
                ERRCODE_INSUFFICIENT_RESOURCES,
                failed,
                "no background worker slot is free",
            ),
            Error::NotCommitted { failed, why } => commit_failed(ERRCODE_INTERNAL_ERROR, failed, why),
            Error::FlowCommitGone => new(
                ERRCODE_FEATURE_NOT_SUPPORTED,
                "auth._flow_commit is gone: ALTER EXTENSION supabase_auth_ext UPDATE",
            ),
            Error::PgjwtInstalled => new(
                ERRCODE_DUPLICATE_FUNCTION,
                "schema pgjwt already holds pgjwt's functions (is the pgjwt extension installed there?)",
            )
            .set_hint("supabase_auth_ext provides them natively: DROP EXTENSION pgjwt first.".to_owned()),
            Error::PgjwtOwner => new(
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                "schema pgjwt exists and belongs to a role that is not a superuser",
            )
            .set_hint(
                "Drop it, or make a superuser its owner, before CREATE EXTENSION supabase_auth_ext."
                    .to_owned(),
            ),
            Error::HelperChanged { signature } => new(
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("{signature} was dropped or changed since use_native_helpers() replaced it"),
            )
            .set_detail("The saved definition is not restored over a function someone else made.".to_owned())
            .set_hint(format!(
                "Recreate it by hand, then: DELETE FROM sae_internal.sae_replaced_helpers WHERE signature = {}",
                sql_literal(&signature)
            )),
            Error::Internal(what) => new(ERRCODE_INTERNAL_ERROR, what),
        }
    }

    /// A flow's refusal as flows.sql names it: `what` is "option", "JWT", "auth code",
    /// "refresh token" or "client" (reason "invalid"); `reason` the contract's word (or an
    /// option's message).
    pub fn flow(what: &str, reason: &str, detail: Option<&str>) -> Error {
        let detail = detail.map(str::to_owned);
        if what == "client" && reason == "invalid" {
            return Error::InvalidClient { detail };
        }
        if what == "option" {
            let core = AuthError::InvalidOption(reason.to_owned());
            return match detail {
                Some(detail) => Error::Detailed { core, detail },
                None => Error::Core(core),
            };
        }
        let core = match what {
            "JWT" => Reason::parse(reason)
                .map(|r| AuthError::token(r, detail.clone().unwrap_or_default())),
            _ => Credential::parse(what)
                .zip(FlowReason::parse(reason))
                .map(|(what, reason)| AuthError::Flow {
                    what,
                    reason,
                    detail,
                }),
        };
        core.map_or_else(
            || Error::Internal(format!("unknown flow error: {what} {reason}")),
            Error::Core,
        )
    }

    /// An error the install and admin SQL raises, by name.
    pub fn named(name: &str, arg: Option<&str>) -> Error {
        match (name, arg) {
            ("pgjwt_installed", _) => Error::PgjwtInstalled,
            ("pgjwt_owner", _) => Error::PgjwtOwner,
            ("helper_changed", Some(signature)) => Error::HelperChanged {
                signature: signature.to_owned(),
            },
            _ => Error::Internal(format!("unknown error: {name}")),
        }
    }
}

/// An error as PostgreSQL's: `report(AuthError::...)` or `report(Error::...)`.
pub fn report(e: impl Into<Error>) -> ErrorReport {
    e.into().report()
}

fn commit_failed(code: PgSqlErrorCode, failed: &str, why: &str) -> ErrorReport {
    new(code, format!("{failed}: {why}")).set_hint(
        "Nothing was verified or changed; try again. Background workers: max_worker_processes."
            .to_owned(),
    )
}

/// A SQL string literal (for a hint the user copies).
fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `.or_report()?` in the SQL functions: a core result with its error mapped.
pub trait OrReport<T> {
    fn or_report(self) -> Result<T, ErrorReport>;
}

impl<T> OrReport<T> for auth_core::Result<T> {
    fn or_report(self) -> Result<T, ErrorReport> {
        self.map_err(report)
    }
}

/// The errors our SQL raises by name: its messages come from here, not from SQL text.
mod sql {
    use super::Error;
    use pgrx::pg_sys::panic::ErrorReport;
    use pgrx::prelude::*;

    /// `sae_internal.flow_raise(what, reason, detail)`: a flow's refusal (flows.sql).
    #[pg_extern(sql = false)]
    fn flow_raise(what: &str, reason: &str, detail: Option<&str>) -> Result<(), ErrorReport> {
        Err(Error::flow(what, reason, detail).report())
    }

    /// `sae_internal.raise(name, arg)`: an install or admin error (pgjwt.sql, context.sql).
    #[pg_extern(sql = false)]
    fn raise(name: &str, arg: Option<&str>) -> Result<(), ErrorReport> {
        Err(Error::named(name, arg).report())
    }

    crate::api::export! {
        sae_flow_raise, pg_finfo_sae_flow_raise => flow_raise_wrapper;
        sae_raise, pg_finfo_sae_raise => raise_wrapper;
    }
}
