//! In-backend tests (`cargo pgrx test`): the SQLSTATE mapping, cache invalidation, and the
//! binary jsonb writer byte for byte against PostgreSQL's own input functions. pgrx creates
//! them in schema `tests` (the inner module's name).
use pgrx::prelude::*;

#[pg_schema]
mod tests {
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
            | pgrx::pg_sys::panic::CaughtError::RustPanic { ereport: r, .. } => {
                Some(r.sql_error_code())
            }
        })
        .execute()
    }

    #[pg_test]
    fn errors_map_to_contract_sqlstates() {
        use PgSqlErrorCode::*;
        let cases: [(&'static str, PgSqlErrorCode); 5] = [
            (
                "select jwt_verify('a.b', 'k')",
                ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            ),
            (
                "select jwt_verify('a.b.c', '')",
                ERRCODE_INVALID_PARAMETER_VALUE,
            ),
            (
                "select jwt_verify('a.b.c', 'k', '{\"x\":1}')",
                ERRCODE_INVALID_PARAMETER_VALUE,
            ),
            (
                "select pkce_verify('a', 'b', 'S512')",
                ERRCODE_INVALID_PARAMETER_VALUE,
            ),
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
        assert_eq!(
            got,
            Ok(Some(
                "{\"n\": 123456789012345678901234567890.000}".to_string()
            ))
        );
    }

    #[pg_test]
    fn cache_follows_every_change_within_one_transaction() {
        let u1 = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        let u2 = "b1ffcd00-0d1c-4fa9-8c7e-7cc0ce491b22";
        Spi::run(&format!(
            "select set_config('request.jwt.claims', '{{\"sub\":\"{u1}\"}}', true)"
        ))
        .unwrap();
        assert_eq!(
            Spi::get_one::<String>("select auth.uid()::text"),
            Ok(Some(u1.into()))
        );
        Spi::run(&format!("set local request.jwt.claim.sub = '{u2}'")).unwrap();
        assert_eq!(
            Spi::get_one::<String>("select auth.uid()::text"),
            Ok(Some(u2.into()))
        );
        Spi::run("reset request.jwt.claim.sub").unwrap();
        assert_eq!(
            Spi::get_one::<String>("select auth.uid()::text"),
            Ok(Some(u1.into()))
        );
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

    /// A deterministic pseudo-random JSON document (objects, arrays, every scalar kind,
    /// duplicate keys, escapes, non-ASCII, containers past the 32-entry offset stride).
    fn next(seed: &mut u64, n: u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) % n
    }

    fn random_json(seed: &mut u64, depth: u32) -> String {
        const NUMBERS: [&str; 20] = [
            "0",
            "-0",
            "1",
            "-17",
            "1.50",
            "0.1",
            "1e5",
            "1E-3",
            "-2.5e+10",
            "123456789012345678901234567890",
            "3.14159265358979323846264338327950288",
            "1e300",
            "100",
            "0.000001",
            "1999999999",
            "-1700000000",
            "10000",
            "100000000",
            "123456789012345678",
            "9999",
        ];
        const STRINGS: [&str; 10] = [
            "",
            "a",
            "authenticated",
            "é",
            "😀",
            "\\\"q\\\"",
            "tab\\tnew\\nline",
            "\\u00e9\\ud83d\\ude00",
            "slash\\/back\\\\",
            "a much longer string value that goes on for a while",
        ];
        let kind = if depth >= 4 {
            2 + next(seed, 4)
        } else {
            next(seed, 6)
        };
        match kind {
            0 | 1 => {
                // wide (past the 32-entry stride) near the root only, so documents stay small
                let widths: &[usize] = if depth == 0 {
                    &[0, 1, 3, 17, 33, 40]
                } else {
                    &[0, 1, 2, 3]
                };
                let n = widths[next(seed, widths.len() as u64) as usize];
                let mut members = Vec::new();
                for _ in 0..n {
                    let key = match next(seed, 4) {
                        0 => STRINGS[next(seed, 10) as usize].to_string(),
                        _ => format!("k{}", next(seed, 50)),
                    };
                    members.push(format!("\"{key}\": {}", random_json(seed, depth + 1)));
                }
                if kind == 0 {
                    format!("{{{}}}", members.join(","))
                } else {
                    let items: Vec<String> = members
                        .iter()
                        .map(|m| m.split_once(": ").unwrap().1.to_string())
                        .collect();
                    format!("[{}]", items.join(", "))
                }
            }
            2 => NUMBERS[next(seed, NUMBERS.len() as u64) as usize].to_string(),
            3 => format!("\"{}\"", STRINGS[next(seed, 10) as usize]),
            4 => ["true", "false", "null"][next(seed, 3) as usize].to_string(),
            _ => format!("[{}]", random_json(seed, depth + 1)),
        }
    }

    #[pg_test]
    fn fast_jsonb_is_byte_identical_to_jsonb_in() {
        let mut seed = 42u64;
        let mut docs: Vec<String> = vec![
            "{}".into(), "[]".into(), r#"{"a":1,"a":2}"#.into(), r#"{"b":1,"aa":2,"a":3}"#.into(),
            r#"{"sub":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","exp":1999999999,"amr":[{"method":"password"}]}"#.into(),
        ];
        while docs.len() < 3000 {
            let d = random_json(&mut seed, 0);
            if d.starts_with('{') || d.starts_with('[') {
                docs.push(d);
            }
        }
        for doc in docs {
            let mut tree = auth_core::json::parse(doc.as_bytes()).unwrap();
            let ours = crate::jsonb::to_jsonb(&mut tree, &doc).unwrap().0;
            let c = std::ffi::CString::new(doc.clone()).unwrap();
            let theirs = unsafe {
                pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(c.as_ptr().into())])
                    .unwrap()
            };
            let bytes = |d: pg_sys::Datum| unsafe {
                let p = d.cast_mut_ptr::<pg_sys::varlena>();
                std::slice::from_raw_parts(p as *const u8, pgrx::varsize_any(p)).to_vec()
            };
            assert_eq!(bytes(ours), bytes(theirs), "{doc}");
        }
    }

    #[pg_test]
    fn integers_are_written_as_numeric_in_writes_them() {
        let mut seed = 7u64;
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "1",
            "-1",
            "9999",
            "10000",
            "10001",
            "-10000",
            "20000",
            "100000000",
            "1999999999",
            "1700000000",
            "-1700000000",
            "99999999",
            "123456789012345678",
            "-999999999999999999",
            "100000000000000000",
            "500000000000000000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..2000 {
            let digits = 1 + next(&mut seed, 18);
            let mut t: String = (0..digits)
                .map(|_| char::from(b'0' + next(&mut seed, 10) as u8))
                .collect();
            if t.len() > 1 && t.starts_with('0') {
                t.replace_range(0..1, "7");
            }
            if next(&mut seed, 2) == 0 {
                t.insert(0, '-');
            }
            texts.push(t);
        }
        for t in texts {
            let ours = crate::jsonb::integer_numeric(&t).expect("a plain integer");
            let c = std::ffi::CString::new(t.clone()).unwrap();
            let theirs = unsafe {
                let d = pgrx::direct_function_call_as_datum(
                    pg_sys::numeric_in,
                    &[
                        Some(c.as_ptr().into()),
                        Some(pg_sys::InvalidOid.into()),
                        Some((-1i32).into()),
                    ],
                )
                .unwrap();
                let p = d.cast_mut_ptr::<pg_sys::varlena>();
                std::slice::from_raw_parts(p as *const u8, pgrx::varsize_any(p)).to_vec()
            };
            assert_eq!(ours, theirs, "{t}");
        }
        for not_plain in [
            "",
            "-",
            "01",
            "1.0",
            "1e3",
            "1234567890123456789",
            "+1",
            " 1",
        ] {
            assert_eq!(
                crate::jsonb::integer_numeric(not_plain),
                None,
                "{not_plain}"
            );
        }
    }

    #[pg_test]
    fn keys_are_parsed_once_per_backend() {
        use crate::keycache::stats;
        let jwks = r#"'{"keys":[{"kty":"oct","kid":"a","k":"c2VjcmV0LW9uZS1zZWNyZXQtb25lLXNlY3JldC1vbmUtMzI"},{"kty":"oct","kid":"b","k":"c2Vjb25kLXNlY29uZC1zZWNvbmQtc2Vjb25kLXNlY29uZC0zMg"}]}'::jsonb"#;
        let sql = format!(
            "select count(*) from generate_series(1, 50) g \
             where jwt_is_valid(jwt_sign(jsonb_build_object('n', g), {jwks}), {jwks})"
        );
        let (hits0, misses0, ..) = stats();
        assert_eq!(Spi::get_one::<i64>(&sql), Ok(Some(50)));
        let (hits1, misses1, entries, bytes) = stats();
        assert_eq!(misses1 - misses0, 1, "one parse for 100 uses of one JWKS");
        assert_eq!(hits1 - hits0, 99);
        assert!(entries >= 1 && bytes > 0);
        // the same bytes as text are another key form: a second parse, then hits again
        let text =
            format!("select jwt_verify(jwt_sign('{{}}', {jwks}), ({jwks})::text) is not null");
        assert_eq!(Spi::get_one::<bool>(&text), Ok(Some(true)));
        assert_eq!(stats().1 - misses1, 1);
    }
}
