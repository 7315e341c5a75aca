"""Asymmetric verification (contract section 1, issue 3): RS, PS, ES, EdDSA with keys as PEM
(SPKI, X.509 certificate, PKCS#1), JWK and JWKS. Tokens come from a second, independent
implementation (PyJWT on the `cryptography` package), made fresh in the test setup."""
import datetime
import json

import jwt as pyjwt
import pytest
from conftest import b64u, b64u_decode, fails, one
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

CLAIMS = {"sub": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "role": "authenticated", "exp": 4102444800}


def spki_pem(private_key):
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def jwk_of(private_key, public=True, **extra):
    """PyJWT's JWK for the key (its public half, or the whole private key), plus extra members."""
    algo = {rsa.RSAPrivateKey: pyjwt.algorithms.RSAAlgorithm,
            ec.EllipticCurvePrivateKey: pyjwt.algorithms.ECAlgorithm,
            ed25519.Ed25519PrivateKey: pyjwt.algorithms.OKPAlgorithm}
    for cls, a in algo.items():
        if isinstance(private_key, cls):
            key = private_key.public_key() if public else private_key
            return {**a.to_jwk(key, as_dict=True), **extra}
    raise TypeError(private_key)


def public_jwk(private_key, **extra):
    return jwk_of(private_key, **extra)


def private_jwk(private_key, **extra):
    return jwk_of(private_key, public=False, **extra)


def certificate_pem(private_key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "supabase_auth_ext test")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(private_key.public_key()).serial_number(1)
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650)))
    digest = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private_key, digest).public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def keys():
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "ed": ed25519.Ed25519PrivateKey.generate(),
    }


ALGS = [("RS256", "rsa"), ("RS384", "rsa"), ("RS512", "rsa"), ("PS256", "rsa"), ("PS384", "rsa"),
        ("PS512", "rsa"), ("ES256", "p256"), ("ES384", "p384"), ("EdDSA", "ed")]


def rejected(db, token, key, reason, cast="text"):
    fails(db, f"select jwt_verify(%s, %s::{cast})", (token, key), sqlstate="28000", prefix=f"invalid JWT: {reason}")
    assert one(db, f"select jwt_is_valid(%s, %s::{cast})", (token, key)) is False


@pytest.mark.parametrize("alg,kind", ALGS)
def test_pyjwt_tokens_verify_with_every_key_form(db, keys, alg, kind):
    key = keys[kind]
    token = pyjwt.encode(CLAIMS, key, algorithm=alg)
    assert one(db, "select jwt_verify(%s, %s)", (token, spki_pem(key))) == CLAIMS
    assert one(db, "select jwt_verify(%s, %s)", (token, certificate_pem(key))) == CLAIMS
    assert one(db, "select jwt_verify(%s, %s::jsonb)", (token, json.dumps(public_jwk(key)))) == CLAIMS
    assert one(db, "select jwt_verify(%s, %s::jsonb)", (token, json.dumps(public_jwk(key, alg=alg)))) == CLAIMS
    # a JWKS holding every key type, chosen by kid
    jwks = {"keys": [public_jwk(k, kid=name) for name, k in keys.items()]}
    with_kid = pyjwt.encode(CLAIMS, key, algorithm=alg, headers={"kid": kind})
    assert one(db, "select jwt_verify(%s, %s::jsonb)", (with_kid, json.dumps(jwks))) == CLAIMS
    # without kid, each usable key is tried
    assert one(db, "select jwt_verify(%s, %s::jsonb)", (token, json.dumps(jwks))) == CLAIMS
    # tampered payload
    h, _, s = token.split(".")
    evil = f"{h}.{b64u(json.dumps({**CLAIMS, 'role': 'service_role'}).encode())}.{s}"
    rejected(db, evil, spki_pem(key), "bad_signature")


def test_rsa_pkcs1_public_pem(db, keys):
    key = keys["rsa"]
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    assert pem.startswith("-----BEGIN RSA PUBLIC KEY-----")
    assert one(db, "select jwt_verify(%s, %s)", (pyjwt.encode(CLAIMS, key, algorithm="RS256"), pem)) == CLAIMS


def test_hs256_signed_with_the_public_pem_is_refused(db, keys):
    for kind in ("rsa", "p256", "ed"):
        pem = spki_pem(keys[kind])
        header = b64u(b'{"alg":"HS256","typ":"JWT"}')
        payload = b64u(json.dumps({**CLAIMS, "role": "service_role"}).encode())
        import hashlib
        import hmac
        sig = hmac.new(pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        token = f"{header}.{payload}.{b64u(sig)}"
        rejected(db, token, pem, "alg_not_allowed")
        rejected(db, token, json.dumps(public_jwk(keys[kind])), "alg_not_allowed", cast="jsonb")


def test_kid_pointing_at_a_key_of_another_type(db, keys):
    jwks = {"keys": [public_jwk(keys["p256"], kid="k1"), public_jwk(keys["rsa"], kid="k2")]}
    token = pyjwt.encode(CLAIMS, keys["rsa"], algorithm="RS256", headers={"kid": "k1"})
    rejected(db, token, json.dumps(jwks), "alg_not_allowed", cast="jsonb")
    unknown = pyjwt.encode(CLAIMS, keys["rsa"], algorithm="RS256", headers={"kid": "nope"})
    rejected(db, unknown, json.dumps(jwks), "unknown_kid", cast="jsonb")


def test_jwk_alg_mismatch_and_use_enc(db, keys):
    token = pyjwt.encode(CLAIMS, keys["rsa"], algorithm="RS256")
    rejected(db, token, json.dumps(public_jwk(keys["rsa"], alg="PS256")), "alg_not_allowed", cast="jsonb")
    rejected(db, token, json.dumps(public_jwk(keys["rsa"], use="enc")), "alg_not_allowed", cast="jsonb")


def test_key_carried_in_the_token_is_ignored(db, keys):
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for header in ({"jwk": public_jwk(attacker)}, {"jku": "https://attacker.example/jwks"},
                   {"x5u": "https://attacker.example/cert"}):
        token = pyjwt.encode(CLAIMS, attacker, algorithm="RS256", headers=header)
        rejected(db, token, spki_pem(keys["rsa"]), "bad_signature")


def test_ecdsa_der_and_truncated_signatures(db, keys):
    token = pyjwt.encode(CLAIMS, keys["p256"], algorithm="ES256")
    h, p, s = token.split(".")
    raw = b64u_decode(s)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    rejected(db, f"{h}.{p}.{b64u(der)}", spki_pem(keys["p256"]), "bad_signature")
    rejected(db, f"{h}.{p}.{b64u(raw[:-1])}", spki_pem(keys["p256"]), "bad_signature")


def test_es512_is_unsupported(db, keys):
    p521 = ec.generate_private_key(ec.SECP521R1())
    token = pyjwt.encode(CLAIMS, p521, algorithm="ES512")
    rejected(db, token, spki_pem(keys["p256"]), "unsupported_alg")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_small_rsa_keys_are_refused(db):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    token = pyjwt.encode(CLAIMS, small, algorithm="RS256")
    for key, cast in ((spki_pem(small), "text"), (json.dumps(public_jwk(small)), "jsonb")):
        err = fails(db, f"select jwt_verify(%s, %s::{cast})", (token, key), sqlstate="22023", prefix="invalid key:")
        assert "2048" in err.diag.message_primary


def test_bad_pem_and_unsupported_keys(db, keys):
    token = pyjwt.encode(CLAIMS, keys["rsa"], algorithm="RS256")
    fails(db, "select jwt_verify(%s, %s)", (token, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
          sqlstate="22023", prefix="invalid key:")
    # a P-521 key is read but serves no algorithm we support
    p521 = ec.generate_private_key(ec.SECP521R1())
    rejected(db, pyjwt.encode(CLAIMS, p521, algorithm="ES512"), spki_pem(p521), "unsupported_alg")
    rejected(db, token, spki_pem(p521), "alg_not_allowed")


def test_private_pem_never_acts_as_a_secret(db, keys):
    pem = keys["rsa"].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    import hashlib
    import hmac
    header, payload = b64u(b'{"alg":"HS256"}'), b64u(b"{}")
    sig = hmac.new(pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    rejected(db, f"{header}.{payload}.{b64u(sig)}", pem, "alg_not_allowed")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_errors_never_show_key_material(db, keys):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwk = public_jwk(small)
    err = fails(db, "select jwt_verify('a.b.c', %s::jsonb)", (json.dumps(jwk),))
    text = " ".join(filter(None, [err.diag.message_primary, err.diag.message_detail]))
    assert jwk["n"][:16] not in text


def private_pem(private_key, fmt="pkcs8"):
    formats = {"pkcs8": serialization.PrivateFormat.PKCS8,
               "traditional": serialization.PrivateFormat.TraditionalOpenSSL}
    return private_key.private_bytes(serialization.Encoding.PEM, formats[fmt], serialization.NoEncryption()).decode()


@pytest.mark.parametrize("alg,kind", ALGS)
def test_our_tokens_verify_in_pyjwt(db, keys, alg, kind):
    key = keys[kind]
    forms = [(private_pem(key), "text")]
    if kind != "ed":  # PKCS#1 "RSA PRIVATE KEY" and SEC1 "EC PRIVATE KEY"
        forms.append((private_pem(key, "traditional"), "text"))
    for pem, cast in forms:
        token = one(db, f"select jwt_sign(%s::jsonb, %s::{cast}, %s)", (json.dumps(CLAIMS), pem, alg))
        assert pyjwt.get_unverified_header(token) == {"alg": alg, "typ": "JWT"}
        assert pyjwt.decode(token, key.public_key(), algorithms=[alg]) == CLAIMS
        # and ours, with the public key and with the private key itself
        assert one(db, "select jwt_verify(%s, %s)", (token, spki_pem(key))) == CLAIMS
        assert one(db, "select jwt_verify(%s, %s)", (token, pem)) == CLAIMS
    jwk = private_jwk(key, kid=f"{kind}-1")
    token = one(db, "select jwt_sign(%s::jsonb, %s::jsonb, %s)", (json.dumps(CLAIMS), json.dumps(jwk), alg))
    assert pyjwt.get_unverified_header(token) == {"alg": alg, "typ": "JWT", "kid": f"{kind}-1"}
    assert pyjwt.decode(token, key.public_key(), algorithms=[alg]) == CLAIMS


def test_default_algorithm_of_a_private_jwk(db, keys):
    for kind, alg in (("rsa", "RS256"), ("p256", "ES256"), ("p384", "ES384"), ("ed", "EdDSA")):
        token = one(db, "select jwt_sign('{}', %s::jsonb)", (json.dumps(private_jwk(keys[kind])),))
        assert pyjwt.get_unverified_header(token)["alg"] == alg
        assert pyjwt.decode(token, keys[kind].public_key(), algorithms=[alg]) == {}


def test_signing_needs_a_private_key_of_the_right_family(db, keys):
    fails(db, "select jwt_sign('{}', %s, 'RS256')", (spki_pem(keys["rsa"]),), sqlstate="22023", prefix="invalid key:")
    fails(db, "select jwt_sign('{}', %s::jsonb)", (json.dumps(public_jwk(keys["rsa"])),), sqlstate="22023", prefix="invalid key:")
    fails(db, "select jwt_sign('{}', %s)", (private_pem(keys["rsa"]),), sqlstate="22023", prefix="invalid key:")  # default HS256
    fails(db, "select jwt_sign('{}', %s, 'ES256')", (private_pem(keys["rsa"]),), sqlstate="22023", prefix="invalid key:")
    fails(db, "select jwt_sign('{}', %s, 'ES256')", (private_pem(keys["p384"]),), sqlstate="22023", prefix="invalid key:")
    encrypted = keys["rsa"].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(b"pw")).decode()
    fails(db, "select jwt_sign('{}', %s, 'RS256')", (encrypted,), sqlstate="22023", prefix="invalid key:")
