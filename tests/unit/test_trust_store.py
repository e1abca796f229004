"""The per-cluster trust store: what it records, retires and refuses, and how it writes."""

from __future__ import annotations

import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from activities.clients.trust_store import TrustFile, TrustStore, TrustStoreError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def cert(
    name: str,
    *,
    ca: bool = True,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_cert, signer_key = issuer if issuer else (None, key)
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer_cert.subject if signer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer_key, hashes.SHA256())
    )
    return built, key


def pem(c: x509.Certificate) -> str:
    return c.public_bytes(serialization.Encoding.PEM).decode()


class Pki:
    """A CA (root and intermediate) and a leaf it issued."""

    def __init__(self, name: str) -> None:
        self.root = cert(f"{name} Root")
        self.intermediate = cert(f"{name} Issuing", issuer=self.root)
        self.leaf = cert(f"{name} leaf", ca=False, issuer=self.intermediate)

    @property
    def chain(self) -> list[str]:
        """As the renewal uploads it with the leaf: intermediates, then the root."""
        return [pem(self.intermediate[0]), pem(self.root[0])]


@pytest.fixture
def store(tmp_path: Path) -> TrustStore:
    return TrustStore(tmp_path / "trust", clock=lambda: NOW)


def subjects(store: TrustStore, cluster: str = "lab") -> list[str]:
    return [e.subject for e in store.entries(cluster)]


def test_a_recorded_chain_is_a_ca_bundle_openssl_loads(store: TrustStore) -> None:
    a = Pki("A")
    outcome = store.record("lab", "tomcat", [*a.chain, pem(a.leaf[0])])
    assert outcome.added == ["CN=A Issuing", "CN=A Root"]  # the leaf is no CA: not recorded
    assert outcome.path == str(store.path("lab"))
    text = store.path("lab").read_text()
    assert "PRIVATE KEY" not in text
    assert "# purposes: tomcat" in text and f"# recorded: {NOW.isoformat()}" in text
    assert oct(store.path("lab").stat().st_mode & 0o777) == "0o644"
    ctx = ssl.create_default_context(cafile=str(store.path("lab")))
    assert len(ctx.get_ca_certs()) == 2


def test_a_subject_beyond_ascii_is_written_and_read_back(store: TrustStore) -> None:
    zurich = Pki("Zürich Stadtwerke")
    store.record("lab", "tomcat", zurich.chain)
    assert subjects(store) == ["CN=Zürich Stadtwerke Issuing", "CN=Zürich Stadtwerke Root"]
    assert "# subject: CN=Zürich Stadtwerke Root" in store.path("lab").read_text("utf-8")
    ctx = ssl.create_default_context(cafile=str(store.path("lab")))
    assert len(ctx.get_ca_certs()) == 2


def test_recording_again_changes_nothing(store: TrustStore) -> None:
    a = Pki("A")
    store.record("lab", "tomcat", a.chain)
    first = store.path("lab").stat().st_mtime_ns, store.path("lab").read_text()
    again = store.record("lab", "tomcat", a.chain)
    assert again.added == [] and again.kept == ["CN=A Issuing", "CN=A Root"]
    assert (store.path("lab").stat().st_mtime_ns, store.path("lab").read_text()) == first


def test_the_previous_ca_stays_until_the_renewal_is_settled(store: TrustStore) -> None:
    a, b = Pki("A"), Pki("B")
    store.record("lab", "tomcat", a.chain)
    store.record("lab", "tomcat", b.chain)  # uploaded, not yet verified: both trusted
    assert subjects(store) == ["CN=A Issuing", "CN=A Root", "CN=B Issuing", "CN=B Root"]
    settled = store.settle("lab", {"tomcat": b.chain}, retire=["tomcat"])
    assert settled.retired == ["CN=A Issuing", "CN=A Root"]
    assert subjects(store) == ["CN=B Issuing", "CN=B Root"]


def test_a_ca_another_purpose_uses_is_not_retired(store: TrustStore) -> None:
    a, b = Pki("A"), Pki("B")
    store.record("lab", "tomcat", a.chain)
    store.record("lab", "CallManager", a.chain)
    store.settle("lab", {"tomcat": b.chain}, retire=["tomcat"])
    assert subjects(store) == ["CN=A Issuing", "CN=A Root", "CN=B Issuing", "CN=B Root"]
    assert {e.subject: e.purposes for e in store.entries("lab")}["CN=A Root"] == ("CallManager",)


def test_settle_without_retiring_keeps_everything(store: TrustStore) -> None:
    a, b = Pki("A"), Pki("B")
    store.record("lab", "tomcat", a.chain)
    outcome = store.settle("lab", {"tomcat": b.chain}, retire=())
    assert outcome.retired == [] and outcome.added == ["CN=B Issuing", "CN=B Root"]


def test_a_certificate_added_by_hand_is_never_retired(store: TrustStore) -> None:
    a, b, corp = Pki("A"), Pki("B"), Pki("Corp")
    store.record("lab", "tomcat", a.chain)
    with store.path("lab").open("a") as f:
        f.write("\n# our corporate root, added by the voice team\n" + pem(corp.root[0]))
    store.settle("lab", {"tomcat": b.chain}, retire=["tomcat"])
    assert subjects(store) == ["CN=Corp Root", "CN=B Issuing", "CN=B Root"]
    assert {e.subject: e.purposes for e in store.entries("lab")}["CN=Corp Root"] == ()


def test_clusters_have_files_of_their_own(store: TrustStore, tmp_path: Path) -> None:
    a = Pki("A")
    store.record("lab", "tomcat", a.chain)
    store.record("../east/1", "tomcat", a.chain)
    assert store.entries("west") == []
    odd = store.path("../east/1")
    assert odd.parent == tmp_path / "trust" and odd.name == "..%2Feast%2F1.pem"
    assert sorted(p.name for p in (tmp_path / "trust").glob("*.pem")) == [odd.name, "lab.pem"]


def test_files_lists_what_exists_with_why(tmp_path: Path) -> None:
    root = tmp_path / "ca" / "root.pem"
    store = TrustStore(tmp_path / "trust", shared=[TrustFile(str(root), "local CA root")])
    assert store.files("lab") == ()
    store.record("lab", "tomcat", Pki("A").chain)
    root.parent.mkdir()
    root.write_text(pem(Pki("L").root[0]))
    assert store.files("lab") == (
        TrustFile(str(store.path("lab")), "CA certificates ucrenew installed on cluster lab"),
        TrustFile(str(root), "local CA root"),
    )


def test_a_private_key_in_the_file_is_refused(store: TrustStore) -> None:
    store.record("lab", "tomcat", Pki("A").chain)
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with store.path("lab").open("a") as f:
        f.write(key.decode())
    with pytest.raises(TrustStoreError) as err:
        store.entries("lab")
    assert str(err.value) == (
        f"the trust file {store.path('lab')} holds a private key: remove it (only CA "
        "certificates belong there)"
    )
    with pytest.raises(TrustStoreError):
        store.record("lab", "tomcat", Pki("B").chain)


def test_a_damaged_block_names_the_file_and_the_certificate(store: TrustStore) -> None:
    store.record("lab", "tomcat", Pki("A").chain)
    text = store.path("lab").read_text()
    lines = text.splitlines()
    body = next(
        i for i, line in enumerate(lines) if line.startswith("MII") or line.startswith("MI")
    )
    lines[body] = "A" * len(lines[body])
    store.path("lab").write_text("\n".join(lines) + "\n")
    with pytest.raises(TrustStoreError) as err:
        store.entries("lab")
    assert str(store.path("lab")) in str(err.value) and "CN=A Issuing" in str(err.value)


def test_an_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "trust"
    blocker.write_text("a file where the directory should be")
    store = TrustStore(blocker)
    with pytest.raises(TrustStoreError) as err:
        store.record("lab", "tomcat", Pki("A").chain)
    assert str(err.value).startswith(f"cannot write the trust file {blocker / 'lab.pem'}:")


def test_concurrent_writers_lose_nothing(store: TrustStore) -> None:
    """Two workers recording at once (the lock serializes read-modify-write)."""
    cas = [Pki(f"W{i}") for i in range(8)]
    threads = [
        threading.Thread(target=store.record, args=("lab", f"p{i}", ca.chain))
        for i, ca in enumerate(cas)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(subjects(store)) == sorted(
        s for i in range(8) for s in (f"CN=W{i} Issuing", f"CN=W{i} Root")
    )
