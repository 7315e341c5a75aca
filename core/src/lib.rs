//! The logic of supabase_auth_ext with no PostgreSQL dependency: JWT (JWS compact) decode,
//! verify and sign, keys (secrets, PEM, JWK, JWKS), claim checks, PKCE, uuid text.
//! Everything here returns [`AuthError`]; the extension maps it to SQLSTATEs at its edge.
pub mod aead;
pub mod alg;
pub mod asym;
pub mod b64;
pub mod cache;
pub mod claims;
pub mod error;
pub mod flow;
#[doc(hidden)]
pub mod fuzz;
pub mod hmac;
pub mod hook;
pub mod json;
pub mod jwt;
pub mod keys;
pub mod material;
pub mod oauth;
pub mod pgjwt;
pub mod pkce;
pub mod request;
pub mod session;
pub mod uuid;
pub mod vault;

pub use error::{AuthError, Credential, FlowReason, Reason, Result};
