"""Open Badges 3.0 credentials signed as VC-JWT with Ed25519 (``server/credentials.py``).

PyJWT is the independent verifier: every token we sign must pass it, and every tampered copy
must fail it and our own ``verify_credential`` alike. Tokens are taken apart and forged here
with ``cryptography`` directly, never with the module's own helpers.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from server.credentials import (
    AchievementInfo,
    CredentialError,
    SigningKey,
    jwks,
    open_badge_credential,
    sign_credential,
    verify_credential,
)

T0 = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z: in the past, so PyJWT's nbf check passes
ISSUER = "https://waymark.example"
CREDENTIAL_ID = "urn:uuid:5b8a4a2e-7c1d-4f0e-9a51-3c2b1d0e9f87"
SUBJECT = "https://waymark.example/learners/u-42"
KEY = SigningKey.generate()
OTHER = SigningKey.generate()
ACHIEVEMENT = AchievementInfo(
    id="https://waymark.example/achievements/food-safety",
    kind="Certificate",
    name="Safe food handling",
    description="Handles, stores and serves food safely.",
    criteria="Pass every quiz of the food-safety course.",
    image_url="https://waymark.example/img/food-safety.png",
)


def issue(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "issuer_url": ISSUER,
        "issuer_name": "Waymark Academy",
        "credential_id": CREDENTIAL_ID,
        "subject_id": SUBJECT,
        "subject_name": "Ada Lovelace",
        "achievement": ACHIEVEMENT,
        "issued_at_ms": T0,
        "evidence": ("Scored 9/10 on the final quiz",),
        "verification_url": "https://waymark.example/verify/5b8a4a2e",
    }
    return open_badge_credential(**(args | overrides))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    header, payload, signature = token.split(".")
    return msgspec.json.decode(unb64(header)), msgspec.json.decode(unb64(payload)), unb64(signature)


def private_key(key: SigningKey) -> Ed25519PrivateKey:
    loaded = serialization.load_pem_private_key(key.to_private_text().encode(), password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    return loaded


def forge(header: Any, payload: Any, signer: SigningKey = KEY) -> str:
    """A compact JWS made by hand: JSON of anything, signed by ``signer``'s private key."""
    signing_input = f"{b64(msgspec.json.encode(header))}.{b64(msgspec.json.encode(payload))}"
    signature = private_key(signer).sign(signing_input.encode())
    return f"{signing_input}.{b64(signature)}"


def pyjwt_decode(token: str, keys: list[SigningKey]) -> dict[str, Any]:
    key_set = jwt.PyJWKSet.from_dict(jwks(keys))
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.decode(
        token,
        key=key_set[kid],
        algorithms=["EdDSA"],
        issuer=ISSUER,
        options={"require": ["iss", "jti", "nbf", "sub"]},
    )


def without_claims(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in ("iss", "jti", "nbf", "sub", "exp")}


# --- keys ----------------------------------------------------------------------------------


def test_generated_key_round_trips_through_private_text() -> None:
    text = KEY.to_private_text()
    loaded = SigningKey.from_private_text(text)

    assert text.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert loaded.kid == KEY.kid != OTHER.kid
    assert loaded.public_jwk() == KEY.public_jwk()
    # Signatures of either copy verify against the other.
    by_loaded = sign_credential(loaded, issue())
    assert verify_credential(by_loaded, [KEY]) == issue()
    assert pyjwt_decode(sign_credential(KEY, issue()), [loaded])["jti"] == CREDENTIAL_ID


def test_kid_is_the_rfc7638_thumbprint_of_the_public_key() -> None:
    raw = (
        private_key(KEY)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    canonical = '{"crv":"Ed25519","kty":"OKP","x":"' + b64(raw) + '"}'

    assert KEY.kid == b64(hashlib.sha256(canonical.encode()).digest())
    assert KEY.public_jwk() == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64(raw),
        "kid": KEY.kid,
        "use": "sig",
        "alg": "EdDSA",
    }


def test_kid_matches_the_rfc8037_example_key() -> None:
    # RFC 8037 appendix A.1 (the key) and A.3 (its RFC 7638 thumbprint).
    d = unb64("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
    pem = Ed25519PrivateKey.from_private_bytes(d).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = SigningKey.from_private_text(pem.decode())

    assert key.public_jwk()["x"] == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    assert key.kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_jwks_lists_public_keys_only() -> None:
    key_set = jwks([KEY, OTHER])

    assert [jwk["kid"] for jwk in key_set["keys"]] == [KEY.kid, OTHER.kid]
    assert all("d" not in jwk for jwk in key_set["keys"])
    assert KEY.kid in repr(KEY) and "PRIVATE" not in repr(KEY)


P256_PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("not a key", "not a PEM private key"), (P256_PEM, "not an Ed25519 key")],
    ids=["garbage", "p256-key"],
)
def test_from_private_text_refuses_what_is_not_an_ed25519_key(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        SigningKey.from_private_text(text)


# --- the credential ------------------------------------------------------------------------


def test_credential_has_the_ob30_vcdm2_shape() -> None:
    credential = issue()

    assert credential == {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "id": CREDENTIAL_ID,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": "Safe food handling",
        "issuer": {"id": ISSUER, "type": ["Profile"], "name": "Waymark Academy"},
        "validFrom": "2023-11-14T22:13:20Z",  # whole seconds, so nbf can equal it
        "awardedDate": "2023-11-14T22:13:20Z",
        "credentialSubject": {
            "id": SUBJECT,
            "type": ["AchievementSubject"],
            "achievement": {
                "id": "https://waymark.example/achievements/food-safety",
                "type": ["Achievement"],
                "achievementType": "Certificate",
                "name": "Safe food handling",
                "description": "Handles, stores and serves food safely.",
                "criteria": {"narrative": "Pass every quiz of the food-safety course."},
                "image": {"id": "https://waymark.example/img/food-safety.png", "type": "Image"},
            },
            "identifier": [
                {
                    "type": "IdentityObject",
                    "hashed": False,
                    "identityHash": "Ada Lovelace",
                    "identityType": "name",
                }
            ],
        },
        "evidence": [{"type": ["Evidence"], "narrative": "Scored 9/10 on the final quiz"}],
        "url": "https://waymark.example/verify/5b8a4a2e",
    }


def test_empty_optional_parts_are_omitted() -> None:
    bare = AchievementInfo(id="https://waymark.example/achievements/hello", kind="Badge", name="Hi")
    credential = issue(achievement=bare, subject_name="", evidence=(), verification_url="")

    assert "evidence" not in credential and "url" not in credential
    assert "identifier" not in credential["credentialSubject"]
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["achievementType"] == "Badge"
    assert "image" not in achievement
    assert achievement["description"] == ""  # required by the data model, so kept
    # Criteria need an id or a narrative: without a narrative, the achievement's page.
    assert achievement["criteria"] == {"id": "https://waymark.example/achievements/hello"}


@pytest.mark.parametrize("field", ["issuer_url", "credential_id", "subject_id", "verification_url"])
def test_relative_ids_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=f"{field} must be an absolute URI"):
        issue(**{field: "learners/u-42"})


# --- signing, checked by PyJWT -------------------------------------------------------------


def test_issued_credential_verifies_with_pyjwt() -> None:
    credential = issue()
    token = sign_credential(KEY, credential)

    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "typ": "JWT", "kid": KEY.kid}
    payload = pyjwt_decode(token, [OTHER, KEY])
    assert "OpenBadgeCredential" in payload["type"]
    assert payload["issuer"]["id"] == ISSUER
    assert payload["credentialSubject"]["id"] == SUBJECT
    assert payload["credentialSubject"]["achievement"]["name"] == "Safe food handling"
    assert payload["iss"] == credential["issuer"]["id"]
    assert payload["jti"] == credential["id"]
    assert payload["sub"] == credential["credentialSubject"]["id"]
    assert payload["nbf"] == datetime.fromisoformat(credential["validFrom"]).timestamp()
    assert payload["nbf"] == T0 // 1000
    # VCDM 2.0 VC-JWT: the credential is the payload, not wrapped in a "vc" claim.
    assert "vc" not in payload and "exp" not in payload
    assert without_claims(payload) == credential


def test_own_verifier_returns_the_credential_with_keys_or_a_jwks() -> None:
    credential = issue()
    token = sign_credential(KEY, credential)

    assert verify_credential(token, [OTHER, KEY]) == credential
    assert verify_credential(token, jwks([OTHER, KEY])) == credential
    # A JWKS round-tripped through JSON, as a remote verifier would fetch it.
    fetched = msgspec.json.decode(msgspec.json.encode(jwks([KEY])))
    assert verify_credential(token, fetched) == credential


def _payload_changed(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = msgspec.json.decode(unb64(payload))
    claims["credentialSubject"]["achievement"]["name"] = "Master chef"
    return f"{header}.{b64(msgspec.json.encode(claims))}.{signature}"


def _signature_bit_flipped(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(unb64(signature))
    raw[10] ^= 0x01
    return f"{header}.{payload}.{b64(bytes(raw))}"


def _alg_none(token: str) -> str:
    header, payload, signature = token.split(".")
    fields = msgspec.json.decode(unb64(header)) | {"alg": "none"}
    return f"{b64(msgspec.json.encode(fields))}.{payload}.{signature}"


def _alg_none_unsigned(token: str) -> str:
    return _alg_none(token).rsplit(".", 1)[0] + "."


def _other_key_same_kid(token: str) -> str:
    header, payload, _ = parts(token)
    assert header["kid"] == KEY.kid
    return forge(header, payload, signer=OTHER)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_payload_changed, "bad signature"),
        (_signature_bit_flipped, "bad signature"),
        (_alg_none, "header alg must be 'EdDSA', got 'none'"),
        (_alg_none_unsigned, "header alg must be 'EdDSA', got 'none'"),
        (_other_key_same_kid, "bad signature"),
    ],
    ids=["payload-changed", "signature-bit-flipped", "alg-none", "alg-none-unsigned", "other-key"],
)
def test_tampered_copies_fail_with_pyjwt_and_our_verifier(
    tamper: Callable[[str], str], reason: str
) -> None:
    token = sign_credential(KEY, issue())
    tampered = tamper(token)
    assert tampered != token

    with pytest.raises(jwt.InvalidTokenError):
        pyjwt_decode(tampered, [KEY])
    with pytest.raises(CredentialError, match=reason):
        verify_credential(tampered, [KEY])
    with pytest.raises(CredentialError, match=reason):
        verify_credential(tampered, jwks([KEY]))


# --- malformed tokens: each refused for its own reason -------------------------------------

GOOD = sign_credential(KEY, issue())
GOOD_HEADER, GOOD_PAYLOAD, GOOD_SIGNATURE = GOOD.split(".")
GOOD_CLAIMS = parts(GOOD)[1]
HEADER = {"alg": "EdDSA", "typ": "JWT", "kid": KEY.kid}


def _with_header(header: Any) -> str:
    return f"{b64(msgspec.json.encode(header))}.{GOOD_PAYLOAD}.{GOOD_SIGNATURE}"


def _non_canonical_signature() -> str:
    # 64 bytes take 86 base64url characters; the last one carries 2 unused bits. A lenient
    # decoder maps "...A" and "...B" to the same bytes; we accept only the canonical one.
    last = GOOD_SIGNATURE[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(last) ^ 0x01]
    assert unb64(GOOD_SIGNATURE[:-1] + twin) == unb64(GOOD_SIGNATURE)
    return f"{GOOD_HEADER}.{GOOD_PAYLOAD}.{GOOD_SIGNATURE[:-1]}{twin}"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", r"expected 3 dot-separated segments \(compact JWS\), got 1"),
        ("abc.def", "expected 3 dot-separated segments .*got 2"),
        (GOOD + ".x", "expected 3 dot-separated segments .*got 4"),
        (f"e!J.{GOOD_PAYLOAD}.{GOOD_SIGNATURE}", "header segment is not base64url"),
        (f"{GOOD_HEADER}=.{GOOD_PAYLOAD}.{GOOD_SIGNATURE}", "header segment is not base64url"),
        (f"{b64(b'{nope')}.{GOOD_PAYLOAD}.{GOOD_SIGNATURE}", "header is not a JSON object"),
        (_with_header(["EdDSA"]), "header is not a JSON object"),
        (_with_header(HEADER | {"alg": "HS256"}), "header alg must be 'EdDSA', got 'HS256'"),
        (_with_header({"alg": "EdDSA", "typ": "JWT"}), "header has no kid"),
        (_with_header(HEADER | {"kid": "nope"}), "unknown kid 'nope'"),
        (_with_header(HEADER | {"typ": "vc+jwt"}), "header typ must be 'JWT', got 'vc\\+jwt'"),
        (_with_header(HEADER | {"crit": ["b64"]}), r"not allowed: \['crit'\]"),
        (
            f"{GOOD_HEADER}.{GOOD_PAYLOAD[:-1]}*.{GOOD_SIGNATURE}",
            "payload segment is not base64url",
        ),
        (f"{GOOD_HEADER}.{GOOD_PAYLOAD}.{GOOD_SIGNATURE}%", "signature segment is not base64url"),
        (_non_canonical_signature(), "signature segment is not base64url"),
        (f"{GOOD_HEADER}.{GOOD_PAYLOAD}.{b64(unb64(GOOD_SIGNATURE)[:-1])}", "bad signature"),
        (forge(HEADER, ["not", "an", "object"]), "payload is not a JSON object"),
        (forge(HEADER, {"iss": ISSUER, "sub": SUBJECT}), "not an OpenBadgeCredential: .*"),
        (
            forge(HEADER, GOOD_CLAIMS | {"type": ["VerifiableCredential"]}),
            r"not an OpenBadgeCredential: type is \['VerifiableCredential'\]",
        ),
        (
            forge(HEADER, GOOD_CLAIMS | {"@context": ["https://www.w3.org/2018/credentials/v1"]}),
            "not an OpenBadgeCredential: @context is",
        ),
        (
            forge(HEADER, GOOD_CLAIMS | {"issuer": {"id": 7, "type": ["Profile"], "name": "x"}}),
            r"not an OpenBadgeCredential: Expected `str`, got `int` - at `\$.issuer.id`",
        ),
        (forge(HEADER, GOOD_CLAIMS | {"iss": "https://evil.example"}), "claim iss does not match"),
        (forge(HEADER, GOOD_CLAIMS | {"sub": "did:example:x"}), "claim sub does not match"),
        (forge(HEADER, GOOD_CLAIMS | {"jti": "urn:uuid:0"}), "claim jti does not match id"),
        (forge(HEADER, GOOD_CLAIMS | {"nbf": 0}), "claim nbf does not match validFrom"),
        (forge(HEADER, GOOD_CLAIMS | {"exp": 2_000_000_000}), "claim exp does not match"),
        (forge(HEADER, without_claims(GOOD_CLAIMS)), "missing claim iss"),
    ],
)
def test_malformed_tokens_are_refused_with_the_specific_reason(token: str, reason: str) -> None:
    with pytest.raises(CredentialError, match=reason) as refused:
        verify_credential(token, [KEY])
    assert refused.value.status == 400  # a BadRequest: the API answers with problem details
    assert "\n" not in str(refused.value)


def test_forged_tokens_verify_when_well_formed() -> None:
    # The forger above is sound, so the refusals in the table come from what was changed.
    assert verify_credential(forge(HEADER, GOOD_CLAIMS), [KEY]) == issue()


def test_now_ms_refuses_credentials_not_yet_valid_or_expired() -> None:
    credential = issue() | {"validUntil": "2024-01-01T00:00:00Z"}
    token = sign_credential(KEY, credential)
    until_ms = 1_704_067_200_000

    assert parts(token)[1]["exp"] == until_ms // 1000
    assert verify_credential(token, [KEY], now_ms=T0) == credential
    assert verify_credential(token, [KEY]) == credential  # no clock given: no time check
    with pytest.raises(CredentialError, match="not valid yet"):
        verify_credential(token, [KEY], now_ms=T0 - 1_000)
    with pytest.raises(CredentialError, match="expired"):
        verify_credential(token, [KEY], now_ms=until_ms)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"iss": ISSUER}, r"already has JWT claims \['iss'\]"),
        ({"validFrom": "2023-11-14T22:13:20.5Z"}, "validFrom must be .* whole seconds"),
        ({"validFrom": "2023-11-14T22:13:20"}, "validFrom must be .* with a zone"),
        ({"id": None}, "no string for the jti claim"),
        ({"credentialSubject": {"type": ["AchievementSubject"]}}, "no string for the sub claim"),
    ],
)
def test_sign_credential_refuses_credentials_it_cannot_make_claims_for(
    change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        sign_credential(KEY, issue() | change)


# --- property ------------------------------------------------------------------------------


@given(
    issuer_name=st.text(),
    subject_name=st.text(),
    name=st.text(),
    description=st.text(),
    criteria=st.text(),
    evidence=st.lists(st.text(), max_size=4),
    issued_at_ms=st.integers(min_value=0, max_value=T0),
)
def test_sign_then_verify_returns_the_same_credential(
    issuer_name: str,
    subject_name: str,
    name: str,
    description: str,
    criteria: str,
    evidence: list[str],
    issued_at_ms: int,
) -> None:
    achievement = AchievementInfo(
        id="https://waymark.example/achievements/x",
        kind="Badge",
        name=name,
        description=description,
        criteria=criteria,
    )
    credential = issue(
        issuer_name=issuer_name,
        subject_name=subject_name,
        achievement=achievement,
        evidence=evidence,
        issued_at_ms=issued_at_ms,
    )
    token = sign_credential(KEY, credential)

    assert verify_credential(token, [KEY]) == credential
    assert without_claims(pyjwt_decode(token, [KEY])) == credential
    assert credential["credentialSubject"]["achievement"]["name"] == name
    assert [e["narrative"] for e in credential.get("evidence", [])] == evidence
