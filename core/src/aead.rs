//! Sealing with an AEAD (ChaCha20-Poly1305, ring): a fresh random nonce per seal, stored in
//! front of the ciphertext and its tag. What the key and the associated data are bound to
//! is the caller's business (flow.rs: the refresh-token seal; vault.rs: provider tokens).
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf::{Salt, HKDF_SHA256};

/// A ChaCha20-Poly1305 key derived with HKDF-SHA256 from `ikm`, under `salt` and `info`.
pub fn derive(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> LessSafeKey {
    let prk = Salt::new(HKDF_SHA256, salt).extract(ikm);
    let okm = prk
        .expand(info, &CHACHA20_POLY1305)
        .expect("one AEAD key is within HKDF's output limit");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// `nonce || ciphertext || tag` of `data`, bound to `aad`.
pub fn seal(key: &LessSafeKey, aad: &[u8], data: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).expect("the OS CSPRNG is available");
    let mut out = data.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut out,
    )
    .expect("the data is far below the AEAD's size limit");
    [nonce.as_slice(), &out].concat()
}

/// What [`seal`] sealed under this key and `aad`; None for anything else (another key or
/// associated data, altered or truncated bytes).
pub fn open(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut body = body.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(aad), &mut body).ok()?;
    Some(plain.to_vec())
}
