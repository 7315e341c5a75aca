//! The edge where core errors become PostgreSQL errors: one variant, one SQLSTATE.
use auth_core::AuthError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgSqlErrorCode;

/// Map an [`AuthError`] to the contract's SQLSTATE (SQL_API.md section 5). The message is
/// the error's Display (`invalid JWT: <reason>`, `invalid key: ...`, `invalid option: ...`);
/// a token error's specifics go to DETAIL. SECURITY: core messages never carry token,
/// secret or key bytes, and nothing is added here.
pub fn report(e: AuthError) -> ErrorReport {
    let message = e.to_string();
    match e {
        AuthError::Token { detail, .. } => ErrorReport::new(
            PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            message,
            "",
        )
        .set_detail(detail),
        AuthError::InvalidKey(_) | AuthError::InvalidOption(_) => {
            ErrorReport::new(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message, "")
        }
    }
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
