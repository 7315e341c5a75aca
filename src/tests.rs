// In-backend tests: what needs a running backend but no client (the SQL edge's mapping of
// errors to SQLSTATEs, the jsonb text type, the cache's invalidation). Client-level
// behaviour is tested by tests/*.py against a real cluster.
use pgrx::prelude::*;

fn sqlstate_of(sql: &'static str) -> Option<PgSqlErrorCode> {
    PgTryBuilder::new(|| {
        Spi::run(sql).expect("statement runs");
        None
    })
    .catch_others(|e| match e {
        pgrx::pg_sys::panic::CaughtError::PostgresError(r)
        | pgrx::pg_sys::panic::CaughtError::ErrorReport(r)
        | pgrx::pg_sys::panic::CaughtError::RustPanic { ereport: r, .. } => Some(r.sql_error_code()),
    })
    .execute()
}

#[pg_test]
fn errors_map_to_contract_sqlstates() {
    use PgSqlErrorCode::*;
    let cases: [(&'static str, PgSqlErrorCode); 5] = [
        ("select jwt_verify('a.b', 'k')", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
        ("select jwt_verify('a.b.c', '')", ERRCODE_INVALID_PARAMETER_VALUE),
        ("select jwt_verify('a.b.c', 'k', '{\"x\":1}')", ERRCODE_INVALID_PARAMETER_VALUE),
        ("select pkce_verify('a', 'b', 'S512')", ERRCODE_INVALID_PARAMETER_VALUE),
        ("select pkce_verifier(12)", ERRCODE_INVALID_PARAMETER_VALUE),
    ];
    for (sql, code) in cases {
        assert_eq!(sqlstate_of(sql), Some(code), "{sql}");
    }
}

#[pg_test]
fn jsonb_text_keeps_numbers_exactly() {
    let got = Spi::get_one::<String>(
        "select jwt_verify(jwt_sign('{\"n\": 123456789012345678901234567890.000}', 'k'), 'k')::text",
    );
    assert_eq!(got, Ok(Some("{\"n\": 123456789012345678901234567890.000}".to_string())));
}

#[pg_test]
fn cache_follows_every_change_within_one_transaction() {
    let u1 = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    let u2 = "b1ffcd00-0d1c-4fa9-8c7e-7cc0ce491b22";
    Spi::run(&format!("select set_config('request.jwt.claims', '{{\"sub\":\"{u1}\"}}', true)")).unwrap();
    assert_eq!(Spi::get_one::<String>("select auth.uid()::text"), Ok(Some(u1.into())));
    Spi::run(&format!("set local request.jwt.claim.sub = '{u2}'")).unwrap();
    assert_eq!(Spi::get_one::<String>("select auth.uid()::text"), Ok(Some(u2.into())));
    Spi::run("reset request.jwt.claim.sub").unwrap();
    assert_eq!(Spi::get_one::<String>("select auth.uid()::text"), Ok(Some(u1.into())));
    Spi::run("select set_config('request.jwt.claims', '', true)").unwrap();
    assert_eq!(Spi::get_one::<String>("select auth.uid()::text"), Ok(None));
}

#[pg_test]
fn helpers_are_plain_c_functions() {
    // The per-row speed depends on auth.uid() being a bare C function, not SQL or plpgsql.
    let lang = Spi::get_one::<String>(
        "select l.lanname::text from pg_proc p join pg_language l on l.oid = p.prolang \
         where p.oid = 'auth.uid()'::regprocedure",
    );
    assert_eq!(lang, Ok(Some("c".into())));
}
