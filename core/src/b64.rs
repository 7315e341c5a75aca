//! base64url without padding (RFC 7515 section 2), strict: no padding, no other alphabet,
//! no non-zero trailing bits, so every token has exactly one encoding.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_decoding() {
        assert_eq!(decode("eyJ9").unwrap(), b"{\"}");
        assert!(decode("eyJ9=").is_none(), "padding");
        assert!(decode("ey+9").is_none(), "standard alphabet");
        assert_eq!(decode("eyI").unwrap(), b"{\"");
        assert!(decode("eyJ").is_none(), "non-zero trailing bits");
        assert!(decode("e").is_none(), "impossible length");
        assert_eq!(encode(b"\xfb\xff"), "-_8");
    }
}
