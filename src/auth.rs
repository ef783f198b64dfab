//! User tokens (PROTOCOL.md section 8): JWTs signed with HS256 and `--token-secret`, with
//! `sub` the user's name and `exp`. The application that embeds chatpulse issues them;
//! `chatpulse token NAME` prints one. A request carries one as `Authorization: Bearer`, a
//! live connection as `?token=` or the `chatpulse_token` cookie (`POST /api/session`).
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The cookie `POST /api/session` sets for the pages and live connections.
pub const COOKIE: &str = "chatpulse_token";

/// Shortest `--token-secret` taken: HS256 with fewer bytes of secret is guessable.
pub const SECRET_MIN_BYTES: usize = 16;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's name (the v1 name rule).
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// May delete any message and manage any stream.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
}

/// Why a token is not taken; said to the client as it is (it names no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("user tokens are not enabled on this server (no --token-secret)")]
    Disabled,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

/// The keys of `--token-secret`.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(..)")
    }
}

impl Tokens {
    pub fn new(secret: &[u8]) -> Tokens {
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A token for `name`, valid for `ttl`.
    pub fn issue(&self, name: &str, ttl: Duration, admin: bool) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let claims = Claims {
            sub: name.to_owned(),
            exp: (now + ttl).as_secs(),
            admin,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("HS256 signing cannot fail")
    }

    /// The claims of a token this server signed, unexpired, naming a valid user.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e.to_string()),
            })?
            .claims;
        if !crate::domain::valid_name(&claims.sub) {
            return Err(TokenError::Invalid(format!(
                "its subject is not a user name ({})",
                crate::domain::NAME_RULE
            )));
        }
        Ok(claims)
    }
}

/// A fresh random secret (`--demo` without `--token-secret`), as hex.
pub fn random_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads `1h`, `30m`, `45s`, `7d` or a number of seconds.
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    crate::time::parse_duration(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_another_secret_refuses_it() {
        let tokens = Tokens::new(b"0123456789abcdef0123");
        let t = tokens.issue("alice", Duration::from_secs(60), true);
        let c = tokens.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.admin), ("alice", true));
        assert!(matches!(
            Tokens::new(b"another secret of 20").verify(&t),
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(tokens.verify("not.a.jwt"), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let tokens = Tokens::new(b"0123456789abcdef0123");
        let claims = Claims {
            sub: "bob".into(),
            exp: 1,
            admin: false,
        };
        let t = encode(&Header::new(Algorithm::HS256), &claims, &tokens.encoding).unwrap();
        assert_eq!(tokens.verify(&t).unwrap_err(), TokenError::Expired);
    }

    #[test]
    fn a_subject_that_is_not_a_name_is_refused() {
        let tokens = Tokens::new(b"0123456789abcdef0123");
        let t = tokens.issue("two words", Duration::from_secs(60), false);
        assert!(matches!(tokens.verify(&t), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_ttl("1w").is_err() && parse_ttl("h").is_err() && parse_ttl("0s").is_err());
    }
}
