//! Verification options (the `options` jsonb of jwt_verify) and the registered-claim checks.
use crate::alg::Alg;
use crate::error::{AuthError, Reason, Result};
use crate::json::Node;
use serde_json::Value;

/// The options of jwt_verify / jwt_is_valid. Unknown option names are an error, so a typo
/// (`"algoritms"`) cannot silently switch a check off.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerifyOptions {
    pub algorithms: Option<Vec<Alg>>,
    pub aud: Option<Vec<String>>,
    pub iss: Option<Vec<String>>,
    pub leeway: Option<f64>,
    pub require: Vec<String>,
    pub now: Option<f64>,
    /// PostgREST's claim rules (auth.login; not settable from the JSON options): a claim
    /// that is null counts as absent; an `aud` absent, null or `[]` passes a configured
    /// audience (Supabase's API keys carry none), and one that is not a string or an array
    /// of strings is refused even with no audience configured; `iat` must be a number no
    /// later than now plus the leeway ("JWT issued at future").
    pub postgrest: bool,
}

fn bad(msg: impl Into<String>) -> AuthError {
    AuthError::InvalidOption(msg.into())
}

fn strings(name: &str, v: &Value, allow_single: bool) -> Result<Vec<String>> {
    let list = match v {
        Value::String(s) if allow_single => return Ok(vec![s.clone()]),
        Value::Array(items) => items,
        _ if allow_single => {
            return Err(bad(format!(
                "{name} must be a string or an array of strings"
            )))
        }
        _ => return Err(bad(format!("{name} must be an array of strings"))),
    };
    list.iter()
        .map(|i| i.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad(format!("{name} must contain only strings")))
}

fn number(name: &str, v: &Value) -> Result<f64> {
    v.as_f64()
        .filter(|n| n.is_finite())
        .ok_or_else(|| bad(format!("{name} must be a number")))
}

impl VerifyOptions {
    /// Parse the options object (JSON text, as jsonb prints it).
    pub fn from_json(text: &str) -> Result<VerifyOptions> {
        if text == "{}" {
            return Ok(VerifyOptions::default()); // the default, on every call: skip serde
        }
        let obj = crate::json::object(text).ok_or_else(|| bad("options must be a JSON object"))?;
        let mut o = VerifyOptions::default();
        for (name, v) in &obj {
            match name.as_str() {
                "algorithms" => {
                    let names = strings("algorithms", v, false)?;
                    if names.is_empty() {
                        return Err(bad("algorithms must not be empty"));
                    }
                    o.algorithms = Some(
                        names
                            .iter()
                            .map(|n| Alg::parse_option(n))
                            .collect::<Result<_>>()?,
                    );
                }
                "aud" => o.aud = Some(strings("aud", v, true)?),
                "iss" => o.iss = Some(strings("iss", v, true)?),
                "leeway" => {
                    let l = number("leeway", v)?;
                    if l < 0.0 {
                        return Err(bad("leeway must not be negative"));
                    }
                    o.leeway = Some(l);
                }
                "require" => o.require = strings("require", v, false)?,
                "now" => o.now = Some(number("now", v)?),
                other => {
                    return Err(bad(format!(
                        "unknown option {} (known: algorithms, aud, iss, leeway, require, now)",
                        crate::json::quote(other)
                    )))
                }
            }
        }
        Ok(o)
    }
}

fn claim_number(claims: &Node, name: &str, null_is_absent: bool) -> Result<Option<f64>> {
    match claims.get(name) {
        None => Ok(None),
        Some(Node::Null) if null_is_absent => Ok(None),
        // a number too large for f64 is no usable time either
        Some(n) => n.as_f64().map(Some).ok_or_else(|| {
            AuthError::token(
                Reason::BadClaimType,
                format!("claim \"{name}\" must be a number"),
            )
        }),
    }
}

/// Check exp, nbf, aud, iss and require against the options, at time `now` with `leeway`.
pub fn check(claims: &Node, o: &VerifyOptions, now: f64, leeway: f64) -> Result<()> {
    let pg = o.postgrest;
    if let Some(exp) = claim_number(claims, "exp", pg)? {
        if now >= exp + leeway {
            return Err(AuthError::token(
                Reason::Expired,
                format!("the token expired at {exp} (now {now:.0}, leeway {leeway} s)"),
            ));
        }
    }
    if let Some(nbf) = claim_number(claims, "nbf", pg)? {
        if now < nbf - leeway {
            return Err(AuthError::token(
                Reason::NotYetValid,
                format!("the token is not valid before {nbf} (now {now:.0}, leeway {leeway} s)"),
            ));
        }
    }
    if pg {
        if let Some(iat) = claim_number(claims, "iat", true)? {
            if iat > now + leeway {
                return Err(AuthError::token(
                    Reason::NotYetValid,
                    format!("the token was issued in the future, at {iat} (now {now:.0}, leeway {leeway} s)"),
                ));
            }
        }
        match claims.get("aud") {
            None | Some(Node::Null) | Some(Node::Str(_)) => {}
            Some(Node::Arr(items)) if items.iter().all(|i| i.as_str().is_some()) => {}
            Some(_) => {
                return Err(AuthError::token(
                    Reason::BadClaimType,
                    "claim \"aud\" must be a string or an array of strings",
                ))
            }
        }
    }
    let aud_absent_ok = pg
        && match claims.get("aud") {
            None | Some(Node::Null) => true,
            Some(Node::Arr(items)) => items.is_empty(),
            _ => false,
        };
    if let Some(expected) = o.aud.as_ref().filter(|_| !aud_absent_ok) {
        let got: Vec<&str> = match claims.get("aud") {
            None => {
                return Err(AuthError::token(
                    Reason::BadAudience,
                    "the token has no \"aud\" claim",
                ))
            }
            Some(Node::Str(_)) => claims
                .get("aud")
                .and_then(Node::as_str)
                .into_iter()
                .collect(),
            Some(Node::Arr(items)) if items.iter().all(|i| i.as_str().is_some()) => {
                items.iter().filter_map(Node::as_str).collect()
            }
            Some(_) => {
                return Err(AuthError::token(
                    Reason::BadClaimType,
                    "claim \"aud\" must be a string or an array of strings",
                ))
            }
        };
        if !got.iter().any(|g| expected.iter().any(|e| e == g)) {
            return Err(AuthError::token(
                Reason::BadAudience,
                "no audience of the token is accepted",
            ));
        }
    }
    if let Some(expected) = &o.iss {
        let got = match claims.get("iss") {
            None => {
                return Err(AuthError::token(
                    Reason::BadIssuer,
                    "the token has no \"iss\" claim",
                ))
            }
            Some(n) => n.as_str().ok_or_else(|| {
                AuthError::token(Reason::BadClaimType, "claim \"iss\" must be a string")
            })?,
        };
        if !expected.iter().any(|e| e == got) {
            return Err(AuthError::token(
                Reason::BadIssuer,
                "the issuer of the token is not accepted",
            ));
        }
    }
    for name in &o.require {
        if claims.get(name).is_none() {
            return Err(AuthError::token(
                Reason::MissingClaim,
                format!("required claim {} is missing", crate::json::quote(name)),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str, opts: &str, now: f64, leeway: f64) -> Option<Reason> {
        let o = VerifyOptions::from_json(opts).unwrap();
        let claims = crate::json::parse(text.as_bytes()).unwrap();
        check(&claims, &o, now, leeway)
            .err()
            .and_then(|e| e.reason())
    }

    #[test]
    fn exp_beyond_f64_is_not_a_time() {
        assert_eq!(
            reason(r#"{"exp":1e400}"#, "{}", 0.0, 0.0),
            Some(Reason::BadClaimType)
        );
        assert_eq!(
            reason(r#"{"nbf":-1e400}"#, "{}", 0.0, 0.0),
            Some(Reason::BadClaimType)
        );
    }

    #[test]
    fn exp_and_nbf_boundaries() {
        assert_eq!(reason(r#"{"exp":100}"#, "{}", 99.0, 0.0), None);
        assert_eq!(
            reason(r#"{"exp":100}"#, "{}", 100.0, 0.0),
            Some(Reason::Expired)
        );
        assert_eq!(reason(r#"{"exp":100}"#, "{}", 129.0, 30.0), None);
        assert_eq!(
            reason(r#"{"exp":100}"#, "{}", 130.0, 30.0),
            Some(Reason::Expired)
        );
        assert_eq!(reason(r#"{"nbf":100}"#, "{}", 100.0, 0.0), None);
        assert_eq!(
            reason(r#"{"nbf":100}"#, "{}", 99.5, 0.0),
            Some(Reason::NotYetValid)
        );
        assert_eq!(reason(r#"{"nbf":100}"#, "{}", 70.0, 30.0), None);
        assert_eq!(
            reason(r#"{"nbf":100}"#, "{}", 69.0, 30.0),
            Some(Reason::NotYetValid)
        );
        assert_eq!(
            reason(r#"{"exp":"100"}"#, "{}", 0.0, 0.0),
            Some(Reason::BadClaimType)
        );
        assert_eq!(
            reason(r#"{"nbf":null}"#, "{}", 0.0, 0.0),
            Some(Reason::BadClaimType)
        );
    }

    #[test]
    fn audience_and_issuer() {
        assert_eq!(reason(r#"{"aud":"a"}"#, r#"{"aud":"a"}"#, 0.0, 0.0), None);
        assert_eq!(
            reason(r#"{"aud":["x","a"]}"#, r#"{"aud":["b","a"]}"#, 0.0, 0.0),
            None
        );
        assert_eq!(
            reason(r#"{"aud":["x"]}"#, r#"{"aud":"a"}"#, 0.0, 0.0),
            Some(Reason::BadAudience)
        );
        assert_eq!(
            reason(r#"{}"#, r#"{"aud":"a"}"#, 0.0, 0.0),
            Some(Reason::BadAudience)
        );
        assert_eq!(
            reason(r#"{"aud":1}"#, r#"{"aud":"a"}"#, 0.0, 0.0),
            Some(Reason::BadClaimType)
        );
        assert_eq!(
            reason(r#"{"aud":"zzz"}"#, "{}", 0.0, 0.0),
            None,
            "absent option: not checked"
        );
        assert_eq!(
            reason(r#"{"iss":"i"}"#, r#"{"iss":["j","i"]}"#, 0.0, 0.0),
            None
        );
        assert_eq!(
            reason(r#"{"iss":"k"}"#, r#"{"iss":"i"}"#, 0.0, 0.0),
            Some(Reason::BadIssuer)
        );
        assert_eq!(
            reason(r#"{}"#, r#"{"iss":"i"}"#, 0.0, 0.0),
            Some(Reason::BadIssuer)
        );
        assert_eq!(
            reason(r#"{"iss":["i"]}"#, r#"{"iss":"i"}"#, 0.0, 0.0),
            Some(Reason::BadClaimType)
        );
    }

    #[test]
    fn postgrest_rules() {
        // PostgREST's validateClaims (src/library/PostgREST/Auth/Jwt.hs), as auth.login uses it
        let o = |aud: Option<&str>| VerifyOptions {
            aud: aud.map(|a| vec![a.to_owned()]),
            postgrest: true,
            ..VerifyOptions::default()
        };
        let r = |claims: &str, o: &VerifyOptions| {
            let c = crate::json::parse(claims.as_bytes()).unwrap();
            check(&c, o, 1000.0, 30.0).err().and_then(|e| e.reason())
        };
        let aud = o(Some("a"));
        for ok in [
            r#"{}"#,
            r#"{"aud":null}"#,
            r#"{"aud":[]}"#,
            r#"{"aud":"a"}"#,
            r#"{"aud":["b","a"]}"#,
        ] {
            assert_eq!(r(ok, &aud), None, "{ok}");
        }
        assert_eq!(r(r#"{"aud":"b"}"#, &aud), Some(Reason::BadAudience));
        for bad in [r#"{"aud":{}}"#, r#"{"aud":["a",1]}"#, r#"{"aud":5}"#] {
            assert_eq!(
                r(bad, &o(None)),
                Some(Reason::BadClaimType),
                "{bad} with no audience"
            );
        }
        assert_eq!(r(r#"{"iat":"1"}"#, &o(None)), Some(Reason::BadClaimType));
        assert_eq!(r(r#"{"iat":1030}"#, &o(None)), None, "within the leeway");
        assert_eq!(r(r#"{"iat":1031}"#, &o(None)), Some(Reason::NotYetValid));
        assert_eq!(r(r#"{"exp":null,"nbf":null,"iat":null}"#, &o(None)), None);
        // jwt_verify keeps its documented options: none of this without `postgrest`
        let plain = VerifyOptions::default();
        assert_eq!(r(r#"{"iat":5000,"aud":{}}"#, &plain), None);
    }

    #[test]
    fn require() {
        assert_eq!(
            reason(r#"{"sub":null}"#, r#"{"require":["sub"]}"#, 0.0, 0.0),
            None
        );
        assert_eq!(
            reason(r#"{}"#, r#"{"require":["sub"]}"#, 0.0, 0.0),
            Some(Reason::MissingClaim)
        );
    }

    #[test]
    fn option_errors() {
        for bad in [
            r#"{"algoritms":["HS256"]}"#,
            r#"{"algorithms":"HS256"}"#,
            r#"{"algorithms":[]}"#,
            r#"{"algorithms":["HS999"]}"#,
            r#"{"leeway":-1}"#,
            r#"{"leeway":"5"}"#,
            r#"{"aud":5}"#,
            r#"{"require":"sub"}"#,
            r#"[]"#,
        ] {
            assert!(
                matches!(
                    VerifyOptions::from_json(bad),
                    Err(AuthError::InvalidOption(_))
                ),
                "{bad}"
            );
        }
        let o =
            VerifyOptions::from_json(r#"{"algorithms":["HS512"],"leeway":5,"now":10}"#).unwrap();
        assert_eq!(o.algorithms, Some(vec![Alg::HS512]));
        assert_eq!((o.leeway, o.now), (Some(5.0), Some(10.0)));
    }
}
