"""Made the fixed test keys of the fuzz harness (core/testdata/fuzz_keys.json). Kept for the record;
the keys are test-only and must never sign anything real. Needs `cryptography`."""
import base64, json
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def b64u(n_or_bytes, size=None):
    b = n_or_bytes if isinstance(n_or_bytes, bytes) else n_or_bytes.to_bytes(size or (n_or_bytes.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


r = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
rsa_jwk = {"kty": "RSA", "kid": "rsa1", "n": b64u(r.public_numbers.n), "e": b64u(r.public_numbers.e),
           "d": b64u(r.d), "p": b64u(r.p), "q": b64u(r.q), "dp": b64u(r.dmp1), "dq": b64u(r.dmq1), "qi": b64u(r.iqmp)}
e = ec.generate_private_key(ec.SECP256R1()).private_numbers()
ec_jwk = {"kty": "EC", "kid": "ec1", "crv": "P-256", "x": b64u(e.public_numbers.x, 32), "y": b64u(e.public_numbers.y, 32),
          "d": b64u(e.private_value, 32)}
o = ed25519.Ed25519PrivateKey.generate()
from cryptography.hazmat.primitives import serialization as s
okp_jwk = {"kty": "OKP", "kid": "ed1", "crv": "Ed25519",
           "x": b64u(o.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)),
           "d": b64u(o.private_bytes(s.Encoding.Raw, s.PrivateFormat.Raw, s.NoEncryption()))}
oct_jwk = {"kty": "oct", "kid": "hs1", "k": b64u(b"fuzz-harness-secret-of-at-least-32-bytes!")}
json.dump({"keys": [oct_jwk, rsa_jwk, ec_jwk, okp_jwk]}, open("fuzz_keys.json", "w"), indent=1)
