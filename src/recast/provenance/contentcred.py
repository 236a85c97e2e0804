"""C2PA Content Credentials: the industry-standard provenance manifest, beside recast's own label.

Every result video gets a signed C2PA manifest (when the optional ``c2pa-python`` package is
installed: ``pip install 'recast-faceswap[c2pa]'``) whose ``c2pa.actions`` assertion says
``c2pa.created`` with IPTC digital source type ``compositeWithTrainedAlgorithmicMedia`` — what
C2PA-aware tools display as "made with AI" — plus an ``org.recast.synthetic`` assertion.

Signing key: a local ES256 key and certificate, created on first use in
``~/.config/recast/c2pa/`` (or ``$RECAST_C2PA_DIR``): ``signer.key`` (PKCS#8 PEM) and
``signer.pem`` (the signing certificate followed by its issuer chain). They are issued by a local
CA made for this machine, so C2PA validators report the signature as valid but the signer as
untrusted (``signingCredential.untrusted``); to be trusted, replace both files with a key and
certificate chain from a C2PA-recognised certificate authority.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recast import __version__
from recast.atomic import atomic_path, atomic_write_bytes
from recast.errors import InputError, RecastError

log = logging.getLogger(__name__)

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
RECAST_ASSERTION = "org.recast.synthetic"
KEY_FILE = "signer.key"
CERT_FILE = "signer.pem"
#: Containers the C2PA library signs in place (ISO BMFF and the common image formats).
SIGNABLE = {".mp4": "video/mp4", ".mov": "video/quicktime", ".m4v": "video/mp4", ".jpg": "image/jpeg",
            ".jpeg": "image/jpeg", ".png": "image/png"}


@dataclass
class ContentCredentials:
    """What :func:`read_manifest` found in a file's C2PA manifest.

    ``digital_source_types``: the IPTC types its actions declare. ``generator``: the claim
    generator's name. ``signer``: the certificate's common name and issuer. ``validation``: the
    validator's status codes (``signingCredential.untrusted`` is expected for a local key).
    ``synthetic``: the manifest declares trained-algorithmic media (this module's type, or any
    ``trainedAlgorithmicMedia`` kind).
    """

    digital_source_types: list[str] = field(default_factory=list)
    generator: str = ""
    signer: str = ""
    validation: list[str] = field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        return any("TrainedAlgorithmicMedia" in t or t.endswith("/trainedAlgorithmicMedia")
                   for t in self.digital_source_types)

    @property
    def signature_valid(self) -> bool:
        """The claim signature and every hash checked out (an untrusted signer is not a failure here)."""
        return not [code for code in self.validation if code != "signingCredential.untrusted"]


def available() -> bool:
    """True when ``c2pa-python`` (and ``cryptography``, for the local key) can be imported."""
    try:
        import c2pa  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError:
        return False
    return True


def key_dir() -> Path:
    """Folder of the signing key and certificate (``$RECAST_C2PA_DIR`` or ``~/.config/recast/c2pa``)."""
    configured = os.environ.get("RECAST_C2PA_DIR")
    return Path(configured) if configured else Path.home() / ".config" / "recast" / "c2pa"


def signing_credentials(folder: Path | None = None) -> tuple[bytes, bytes]:
    """``(certificate chain PEM, private key PEM)`` from ``folder``, created there on first use.

    Raises:
        InputError: only one of the two files exists (a half-replaced key is not silently redone).
    """
    folder = folder or key_dir()
    key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
    if key_path.exists() != cert_path.exists():
        missing = cert_path if key_path.exists() else key_path
        raise InputError(missing, f"missing beside {key_path if key_path.exists() else cert_path}; give both "
                                  "files (key and certificate chain) or neither")
    if not key_path.exists():
        chain, key = _local_credentials()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_bytes(cert_path, chain)
        atomic_write_bytes(key_path, key)
        key_path.chmod(0o600)
        log.info("created a local C2PA signing key in %s (replace it with your own to be trusted)", folder)
    return cert_path.read_bytes(), key_path.read_bytes()


def _local_credentials() -> tuple[bytes, bytes]:
    """A local CA and an ES256 signing certificate it issues (C2PA does not accept self-signed signers)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "recast user (local key)")])

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=not sign,
                             crl_sign=not sign, encipher_only=False, decipher_only=False)

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)
    ca = (x509.CertificateBuilder().subject_name(name("recast local CA")).issuer_name(name("recast local CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(sign=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("recast signer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(sign=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return chain, private


def manifest_definition(title: str) -> dict[str, Any]:
    """The C2PA manifest recast signs: a ``c2pa.created`` action of trained-algorithmic composite media."""
    agent = {"name": "recast", "version": __version__}
    return {
        "claim_generator_info": [agent],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE, "softwareAgent": agent},
            ]}},
            {"label": RECAST_ASSERTION, "data": {"synthetic": True, "label": "synthetic media made with recast: a "
                                                 "face was replaced by a trained model"}},
        ],
    }


def embed_manifest(path: str | Path, key_folder: Path | None = None) -> None:
    """Sign ``path`` (an MP4/MOV video or a JPEG/PNG image) in place with recast's C2PA manifest.

    Raises:
        RecastError: ``c2pa-python`` is not installed, the format cannot carry a manifest, or signing failed.
    """
    import c2pa

    path = Path(path)
    mime = SIGNABLE.get(path.suffix.lower())
    if mime is None:
        raise RecastError(f"{path}: C2PA manifests are written into {', '.join(sorted(SIGNABLE))} files only")
    chain, key = signing_credentials(key_folder)
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None))
        with c2pa.Builder(manifest_definition(path.name)) as builder, atomic_path(path) as tmp, \
                open(path, "rb") as source, open(tmp, "w+b") as dest:
            builder.sign(signer, mime, source, dest)
    except c2pa.C2paError as error:
        raise RecastError(f"{path}: C2PA signing failed ({error}); check the key in {key_folder or key_dir()}") \
            from None


def read_manifest(path: str | Path) -> ContentCredentials | None:
    """The active C2PA manifest of ``path``, or None when it has none (or ``c2pa-python`` is missing)."""
    try:
        import c2pa
    except ImportError:
        return None
    try:
        with c2pa.Reader(str(path)) as reader:
            data = json.loads(reader.json())
    except (c2pa.C2paError, OSError, ValueError):
        return None
    manifest = data.get("manifests", {}).get(data.get("active_manifest", ""), {})
    actions = [a for a in manifest.get("assertions", []) if str(a.get("label", "")).startswith("c2pa.actions")]
    types = [action.get("digitalSourceType", "") for a in actions for action in a.get("data", {}).get("actions", [])]
    info = manifest.get("signature_info", {})
    generators = manifest.get("claim_generator_info") or [{}]
    return ContentCredentials(
        digital_source_types=[t for t in types if t],
        generator=str(generators[0].get("name", manifest.get("claim_generator", ""))),
        signer=f"{info.get('common_name', '')} ({info.get('issuer', '')})",
        validation=[str(status.get("code", "")) for status in data.get("validation_status", [])],
    )
