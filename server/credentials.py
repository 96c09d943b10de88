"""Open Badges 3.0 credentials, signed as VC-JWT with the server's Ed25519 keys.

Build the unsigned credential with :func:`open_badge_credential`, sign it with
:func:`sign_credential` and a :class:`SigningKey`, publish the public keys with :func:`jwks` at
``/.well-known/jwks.json``, and check a token with :func:`verify_credential`, which returns the
credential or raises :class:`CredentialError` (a ``BadRequest``, HTTP 400) with a one-line
reason. Caller misuse (a credential without the ids the claims need, a bad key text, a bad
JWKS) raises ``ValueError``. Nothing here does I/O or reads a clock; only
:meth:`SigningKey.generate` uses randomness.

Spec choices, from 1EdTech Open Badges 3.0 (https://www.imsglobal.org/spec/ob/v3p0/):

* **VC Data Model 2.0, not 1.1.** The final text's Serialization section (#serialization)
  says credentials "MUST be serialized with both JSON-LD contexts",
  https://www.w3.org/ns/credentials/v2 then
  https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json; the data model uses
  ``validFrom``/``validUntil``, and the JWT proof maps ``nbf`` to ``validFrom``.
  ``issuanceDate`` with the 2018 context and a ``vc`` claim is the pre-final (VCDM 1.1) form,
  which the spec now mentions only as something verifiers may still meet.
* **VC-JWT (#jwt-proof, "JSON Web Token Proof Format").** The JWT payload *is* the
  credential, plus ``iss`` = ``issuer.id``, ``jti`` = ``id``, ``nbf`` = ``validFrom`` and
  ``sub`` = ``credentialSubject.id`` (``exp`` = ``validUntil``, which we never set). The JOSE
  header (#joseheader) holds only ``alg``, ``kid`` and ``typ``: "Additional JOSE Headers are
  NOT allowed", and ``typ`` "If present, MUST be set to 'JWT'". ``nbf`` is whole seconds and
  must equal ``validFrom`` (#jwt-verify-credential), so ``validFrom`` drops the milliseconds.
* **alg EdDSA.** The spec makes RS256 the minimum and permits other algorithms "but their use
  limits interoperability": a verifier that only does RS256 cannot check these tokens.
* **kid** is the RFC 7638 thumbprint, listed in our JWKS. The spec describes ``kid`` as "A URI
  that can be dereferenced" to the JWK; a bare thumbprint is not one, so a verifier must be
  pointed at the JWKS.
* The learner's name goes in ``credentialSubject.identifier`` as an IdentityObject with
  ``identityType`` "name" (unhashed): AchievementSubject has no ``name`` property.
* ``kind`` is the Achievement's ``achievementType``; "Badge" and "Certificate" are both in
  the spec's AchievementType enumeration. Criteria are a ``narrative`` when given, else the
  achievement's URL as the criteria ``id`` (the spec wants one of the two).
* OB 3.0 has no hosted-verification property (OB 2.0's ``verification`` is gone: the proof is
  the verification). A ``verification_url`` is written as the credential's ``url``, a term the
  OB context maps to schema.org/url; it is outside the core data model.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from server.errors import BadRequest

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CREDENTIAL_TYPES = ("VerifiableCredential", "OpenBadgeCredential")
# The registered claims of #jwt-proof; verify_credential strips them from the payload.
JWT_CLAIMS = ("iss", "jti", "nbf", "sub", "exp")
_HEADER_PARAMS = frozenset({"alg", "kid", "typ"})


class CredentialError(BadRequest):
    """A token that is not a valid credential signed by one of our keys."""

    title = "Credential rejected"


class SigningKey:
    """An Ed25519 key of the server.

    Make one with :meth:`generate`, store :meth:`to_private_text` in the server's secrets
    and load it back with :meth:`from_private_text`; publish :meth:`public_jwk` via
    :func:`jwks`.
    """

    __slots__ = ("_kid", "_private")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self._kid = _thumbprint(_public_x(private_key.public_key()))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_text(cls, text: str) -> SigningKey:
        """Load what :meth:`to_private_text` wrote (unencrypted PKCS#8 PEM).

        Raises ``ValueError`` when the text is not an Ed25519 private key.
        """
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ValueError(f"not a PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"not an Ed25519 key: {type(key).__name__}")
        return cls(key)

    def to_private_text(self) -> str:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    @property
    def kid(self) -> str:
        """The RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key."""
        return self._kid

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _public_x(self._private.public_key()),
            "kid": self._kid,
            "use": "sig",
            "alg": "EdDSA",
        }

    def __repr__(self) -> str:
        return f"SigningKey(kid={self._kid!r})"


def jwks(keys: Iterable[SigningKey]) -> dict[str, Any]:
    """The JWK Set (RFC 7517 §5) to serve at ``/.well-known/jwks.json``."""
    return {"keys": [key.public_jwk() for key in keys]}


class AchievementInfo(msgspec.Struct, frozen=True):
    """What the credential says about the achievement (an OB ``Achievement``)."""

    id: str  # an absolute URL of the achievement definition
    kind: Literal["Badge", "Certificate"]  # OB achievementType
    name: str
    description: str = ""
    criteria: str = ""  # narrative
    image_url: str = ""


# The OB 3.0 data model (appendix "Data Models"), as much of it as we write. Field order is
# output order; empty optional values are omitted, as #serialization asks.


class _Image(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str  # "Image": a single IRI in the data model, not a list


class _Criteria(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str = ""
    narrative: str = ""


class _Achievement(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, rename="camel"):
    id: str
    type: tuple[str, ...]
    achievement_type: str = ""
    name: str
    description: str  # [1] in the data model, so written even when empty
    criteria: _Criteria
    image: _Image | None = None


class _IdentityObject(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    type: str
    hashed: bool
    identity_hash: str
    identity_type: str


class _AchievementSubject(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    type: tuple[str, ...]
    achievement: _Achievement
    identifier: tuple[_IdentityObject, ...] = ()


class _Evidence(msgspec.Struct, frozen=True, kw_only=True):
    type: tuple[str, ...]
    narrative: str


class _Profile(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: tuple[str, ...]
    name: str


class _Credential(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, rename="camel"):
    context: tuple[str, ...] = msgspec.field(name="@context")
    id: str
    type: tuple[str, ...]
    name: str
    issuer: _Profile
    valid_from: str
    awarded_date: str = ""
    credential_subject: _AchievementSubject
    evidence: tuple[_Evidence, ...] = ()
    url: str = ""


def open_badge_credential(
    *,
    issuer_url: str,
    issuer_name: str,
    credential_id: str,
    subject_id: str,
    subject_name: str,
    achievement: AchievementInfo,
    issued_at_ms: int,
    evidence: Sequence[str] = (),
    verification_url: str = "",
) -> dict[str, Any]:
    """The unsigned OpenBadgeCredential as JSON-ready builtins; sign it with
    :func:`sign_credential`.

    ``issued_at_ms`` becomes ``validFrom`` and ``awardedDate`` in whole seconds. Each
    ``evidence`` text becomes an Evidence object with that narrative. Raises ``ValueError``
    when an id or URL is not absolute.
    """
    for what, value in (
        ("issuer_url", issuer_url),
        ("credential_id", credential_id),
        ("subject_id", subject_id),
        ("achievement.id", achievement.id),
    ):
        _require_uri(what, value)
    for what, value in (
        ("achievement.image_url", achievement.image_url),
        ("verification_url", verification_url),
    ):
        if value:
            _require_uri(what, value)
    issued = _iso_seconds(issued_at_ms // 1000)
    if achievement.criteria:
        criteria = _Criteria(narrative=achievement.criteria)
    else:
        criteria = _Criteria(id=achievement.id)
    identifier: tuple[_IdentityObject, ...] = ()
    if subject_name:
        identifier = (
            _IdentityObject(
                type="IdentityObject",
                hashed=False,
                identity_hash=subject_name,
                identity_type="name",
            ),
        )
    credential = _Credential(
        context=(VC_CONTEXT, OB_CONTEXT),
        id=credential_id,
        type=CREDENTIAL_TYPES,
        name=achievement.name,
        issuer=_Profile(id=issuer_url, type=("Profile",), name=issuer_name),
        valid_from=issued,
        awarded_date=issued,
        credential_subject=_AchievementSubject(
            id=subject_id,
            type=("AchievementSubject",),
            achievement=_Achievement(
                id=achievement.id,
                type=("Achievement",),
                achievement_type=achievement.kind,
                name=achievement.name,
                description=achievement.description,
                criteria=criteria,
                image=_Image(id=achievement.image_url, type="Image")
                if achievement.image_url
                else None,
            ),
            identifier=identifier,
        ),
        evidence=tuple(_Evidence(type=("Evidence",), narrative=text) for text in evidence),
        url=verification_url,
    )
    # Through JSON rather than to_builtins, which keeps tuples: the caller gets what a
    # verifier will decode, lists and all.
    return _object_decoder.decode(_encoder.encode(credential))


def sign_credential(key: SigningKey, credential: dict[str, Any]) -> str:
    """The credential as a compact JWS (VC-JWT, #jwt-proof) signed with ``key``.

    Raises ``ValueError`` when the credential lacks what the JWT claims are taken from
    (``id``, ``issuer.id``, ``credentialSubject.id``, a whole-second ``validFrom``) or
    already has one of the claims.
    """
    clash = sorted(set(JWT_CLAIMS) & credential.keys())
    if clash:
        raise ValueError(f"credential already has JWT claims {clash}")
    claims: dict[str, Any] = {
        "iss": _issuer_id(credential),
        "jti": credential.get("id"),
        "nbf": _numeric_date(credential.get("validFrom"), "validFrom"),
        "sub": _subject_id(credential),
    }
    if "validUntil" in credential:
        claims["exp"] = _numeric_date(credential["validUntil"], "validUntil")
    for name in ("iss", "jti", "sub"):
        if not isinstance(claims[name], str) or not claims[name]:
            raise ValueError(f"credential has no string for the {name} claim")
    header = {"alg": "EdDSA", "typ": "JWT", "kid": key.kid}
    signing_input = f"{_b64(_encoder.encode(header))}.{_b64(_encoder.encode(claims | credential))}"
    signature = key._private.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{_b64(signature)}"


def verify_credential(
    token: str, keys: Iterable[SigningKey] | dict[str, Any], *, now_ms: int | None = None
) -> dict[str, Any]:
    """Check a token made by :func:`sign_credential` and return the credential (the payload
    without the JWT claims).

    ``keys`` are our signing keys or a JWK Set such as :func:`jwks` returns. With ``now_ms``,
    a credential whose ``nbf`` is still ahead or whose ``exp`` has passed is refused too.
    Raises :class:`CredentialError` naming the first problem found; ``ValueError`` if
    ``keys`` is a malformed JWK Set.
    """
    public_keys = _keys_by_kid(keys)
    segments = token.split(".")
    if len(segments) != 3:
        raise CredentialError(
            f"expected 3 dot-separated segments (compact JWS), got {len(segments)}"
        )
    header_b64, payload_b64, signature_b64 = segments
    header = _decode_object(_unb64(header_b64, "header"), "header")
    if header.get("alg") != "EdDSA":
        raise CredentialError(f"header alg must be 'EdDSA', got {header.get('alg')!r}")
    if header.get("typ", "JWT") != "JWT":
        raise CredentialError(f"header typ must be 'JWT', got {header['typ']!r}")
    extra = sorted(header.keys() - _HEADER_PARAMS)
    if extra:
        raise CredentialError(f"header has parameters that are not allowed: {extra}")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise CredentialError("header has no kid")
    public_key = public_keys.get(kid)
    if public_key is None:
        raise CredentialError(f"unknown kid {kid!r}")
    signature = _unb64(signature_b64, "signature")
    payload_bytes = _unb64(payload_b64, "payload")
    try:
        public_key.verify(signature, f"{header_b64}.{payload_b64}".encode("ascii"))
    except InvalidSignature:
        raise CredentialError("bad signature") from None
    payload = _decode_object(payload_bytes, "payload")
    credential = {k: v for k, v in payload.items() if k not in JWT_CLAIMS}
    _check_credential(credential)
    _check_claims(payload, credential, now_ms)
    return credential


# --- helpers -------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
_object_decoder = msgspec.json.Decoder(dict[str, Any])
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class _Jwk(msgspec.Struct, frozen=True):
    kty: str
    crv: str = ""
    x: str = ""
    kid: str = ""


class _Jwks(msgspec.Struct, frozen=True):
    keys: list[_Jwk]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(segment: str, what: str) -> bytes:
    # RFC 7515 §2: base64url without padding. Re-encoding must give the segment back, so no
    # two spellings of one signature or payload both verify.
    if _B64URL.fullmatch(segment) and len(segment) % 4 != 1:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        if _b64(data) == segment:
            return data
    raise CredentialError(f"{what} segment is not base64url")


def _decode_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        return _object_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise CredentialError(f"{what} is not a JSON object: {exc}") from None


def _public_x(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _b64(raw)


def _thumbprint(x: str) -> str:
    # RFC 7638 §3.2: the required members of an OKP key (RFC 8037 §2), in lexicographic
    # order, no whitespace.
    canonical = msgspec.json.encode({"crv": "Ed25519", "kty": "OKP", "x": x}, order="sorted")
    return _b64(hashlib.sha256(canonical).digest())


def _keys_by_kid(keys: Iterable[SigningKey] | dict[str, Any]) -> dict[str, Ed25519PublicKey]:
    if not isinstance(keys, dict):
        return {key.kid: key._private.public_key() for key in keys}
    try:
        jwk_set = msgspec.convert(keys, _Jwks)
    except msgspec.ValidationError as exc:
        raise ValueError(f"not a JWK Set: {exc}") from None
    found: dict[str, Ed25519PublicKey] = {}
    for jwk in jwk_set.keys:
        if jwk.kty != "OKP" or jwk.crv != "Ed25519":
            continue  # another algorithm's key; a JWKS may hold several
        try:
            raw = base64.urlsafe_b64decode(jwk.x + "=" * (-len(jwk.x) % 4))
            public_key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise ValueError(f"JWK {jwk.kid!r} has a bad x: {exc}") from None
        found[jwk.kid or _thumbprint(jwk.x)] = public_key
    return found


def _check_credential(credential: dict[str, Any]) -> None:
    try:
        shape = msgspec.convert(credential, _Credential)
    except msgspec.ValidationError as exc:
        raise CredentialError(f"not an OpenBadgeCredential: {exc}") from None
    # "AchievementCredential" is the spec's alias of OpenBadgeCredential.
    if not {"OpenBadgeCredential", "AchievementCredential"} & set(shape.type):
        raise CredentialError(f"not an OpenBadgeCredential: type is {list(shape.type)}")
    if shape.context[:1] != (VC_CONTEXT,) or OB_CONTEXT not in shape.context:
        raise CredentialError(f"not an OpenBadgeCredential: @context is {list(shape.context)}")


def _check_claims(payload: dict[str, Any], credential: dict[str, Any], now_ms: int | None) -> None:
    # #jwt-verify-credential: each claim must be present and match its credential property.
    expected = {
        "iss": ("issuer.id", _issuer_id(credential)),
        "sub": ("credentialSubject.id", _subject_id(credential)),
        "jti": ("id", credential.get("id")),
        "nbf": ("validFrom", _timestamp(credential.get("validFrom"))),
    }
    for claim, (source, value) in expected.items():
        if claim not in payload:
            raise CredentialError(f"missing claim {claim}")
        if payload[claim] != value or isinstance(payload[claim], bool):
            raise CredentialError(f"claim {claim} does not match {source}")
    if "exp" in payload and payload["exp"] != _timestamp(credential.get("validUntil")):
        raise CredentialError("claim exp does not match validUntil")
    if now_ms is not None:
        if payload["nbf"] * 1000 > now_ms:
            raise CredentialError("credential is not valid yet (nbf is in the future)")
        if "exp" in payload and payload["exp"] * 1000 <= now_ms:
            raise CredentialError("credential has expired (exp has passed)")


def _issuer_id(credential: dict[str, Any]) -> Any:
    issuer = credential.get("issuer")
    return issuer.get("id") if isinstance(issuer, dict) else issuer  # a Profile or an IRI


def _subject_id(credential: dict[str, Any]) -> Any:
    subject = credential.get("credentialSubject")
    return subject.get("id") if isinstance(subject, dict) else None


def _timestamp(value: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 date-time with a zone, else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def _numeric_date(value: Any, what: str) -> int:
    seconds = _timestamp(value)
    if seconds is None or seconds != int(seconds):
        raise ValueError(
            f"credential {what} must be an ISO 8601 date-time in whole seconds with a zone"
        )
    return int(seconds)


def _iso_seconds(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _require_uri(what: str, value: str) -> None:
    # JWT iss/jti/sub and the OB ids are URIs; "absolute" here means "has a scheme".
    if not urlsplit(value).scheme:
        raise ValueError(
            f"{what} must be an absolute URI (https:..., urn:uuid:..., did:...), got {value!r}"
        )
