"""The dev cluster's certificates: one CA, the API server's serving cert, client certs, the service-account key.

ECDSA P-256 keys throughout: generating them takes microseconds where RSA takes tens of milliseconds each, and
every component (including service-account token signing, ES256) accepts them. The files are reused when they
exist, so kubeconfigs written by an earlier ``dev up`` keep working after ``dev down`` / ``dev up``.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from airpool.devcluster.realnode import network

VALIDITY = datetime.timedelta(days=3650)
# The API server's names: loopback for the fake-node cluster, the bridge address where it listens beside a real
# node, and the ``kubernetes`` Service's IP and names that pods use.
APISERVER_SANS = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    f"kubernetes.default.svc.{network.CLUSTER_DOMAIN}",
    "127.0.0.1",
    network.KUBERNETES_SERVICE_IP,
    network.NODE_IP,
]

# name -> (common name, organisation); the organisation becomes the Kubernetes group.
CLIENTS = {
    "admin": ("airpool-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
    "kwok": ("kwok", "system:masters"),
    # the real node's parts (realnode/): each its own identity
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", None),
    "kubelet-client": (f"system:node:{network.NODE_NAME}", "system:nodes"),
    "kube-proxy": ("system:kube-proxy", None),
    "coredns": ("system:airpool-coredns", None),
    "local-path-provisioner": ("system:airpool-local-path-provisioner", None),
}


@dataclasses.dataclass(frozen=True)
class Pki:
    """Paths of the PEM files under ``<data dir>/pki``."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def sa_key(self) -> Path:
        return self.root / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.root / "sa.pub"

    def cert(self, name: str) -> Path:
        return self.root / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.root / f"{name}.key"


def ensure(root: Path) -> Pki:
    """Create whatever of the PKI is missing under ``root``; keep what is there."""
    pki = Pki(root)
    root.mkdir(parents=True, exist_ok=True)
    if not (pki.ca_cert.exists() and pki.ca_key.exists()):
        _write_ca(pki)
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    if not pki.cert("apiserver").exists() or not _names(pki.cert("apiserver"), network.NODE_IP):
        _issue(pki, "apiserver", ca_cert=ca_cert, ca_key=ca_key, common_name="kube-apiserver", sans=APISERVER_SANS)
    if not pki.cert("kubelet-serving").exists():
        _issue(
            pki,
            "kubelet-serving",
            ca_cert=ca_cert,
            ca_key=ca_key,
            common_name=f"system:node:{network.NODE_NAME}",
            org="system:nodes",
            sans=[network.NODE_NAME, network.NODE_IP],
        )
    for name, (common_name, org) in CLIENTS.items():
        if not pki.cert(name).exists():
            _issue(pki, name, ca_cert=ca_cert, ca_key=ca_key, common_name=common_name, org=org)
    if not pki.sa_key.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        _write_key(pki.sa_key, key)
        pki.sa_pub.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    return pki


def _names(cert_path: Path, name: str) -> bool:
    """Whether the certificate at ``cert_path`` names ``name`` (an IP address or DNS name) among its SANs."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    addresses = {str(address) for address in sans.get_values_for_type(x509.IPAddress)}
    return name in addresses or name in sans.get_values_for_type(x509.DNSName)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)  # tolerate clock skew


def _write_ca(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airpool-devcluster-ca")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(pki.ca_key, key)
    pki.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(
    pki: Pki,
    name: str,
    *,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    org: str | None = None,
    sans: list[str] | None = None,
) -> None:
    server = sans is not None
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if org:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans is not None:
        names: list[x509.GeneralName] = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    _write_key(pki.key(name), key)
    pki.cert(name).write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
