"""VOS CLI commands on certificates, CSRs and the CTL (``show cert``, ``set csr``, ``utils ctl``).

Each command is a function of the :class:`~lab.frontends.cli_session.CliSession` it runs in
and its arguments; :mod:`lab.frontends.cli_commands` maps command words to them.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from lab import facts, pki
from lab.errors import LabError
from lab.frontends.cli_session import CliSession, SessionClosed, cli_date

_END_CERT = "-----END CERTIFICATE-----"
#: ``set csr gen`` success line, as Cisco's CLI reference prints it (cucm-interfaces.md §7.2,
#: S5). Builds that ask the OU question print :data:`lab.facts.CLI_CSR_GENERATED_WITH_OU_QUESTION`.
CSR_GENERATED = "Successfully Generated CSR for {unit}."


async def cert_list(cli: CliSession, args: list[str]) -> None:
    """``show cert list own|trust``."""
    kind = args[0].lower() if len(args) == 1 else ""
    if kind == "own":
        cli.say(*(f"{unit}/{unit}.pem: {kc.description}" for unit, kc in cli.node.own.items()))
    elif kind == "trust":
        cli.say(
            *(
                f"{store}/{file}: {entry.description}"
                for store, entries in cli.node.trust.items()
                for file, entry in entries.items()
            )
        )
    else:
        cli.say(facts.CLI_INVALID_COMMAND)


async def cert_show_own(cli: CliSession, args: list[str]) -> None:
    """``show cert own <unit>[/<unit>.pem]``."""
    if len(args) != 1:
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    unit, _, file = args[0].partition("/")
    kc = cli.node.own.get(unit)
    if kc is None or file not in ("", f"{unit}.pem"):
        cli.fail(facts.CLI_CERT_NOT_FOUND.format(path=args[0]))
        return
    cli.say(*_dump(cli, kc.cert))


async def cert_show_trust(cli: CliSession, args: list[str]) -> None:
    """``show cert trust <store>/<file>``."""
    if len(args) != 1:
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    store, _, file = args[0].partition("/")
    entry = cli.node.trust.get(store, {}).get(file)
    if entry is None:
        cli.fail(facts.CLI_CERT_NOT_FOUND.format(path=args[0]))
        return
    cli.say(*_dump(cli, entry.cert))


def _dump(cli: CliSession, cert: x509.Certificate) -> list[str]:
    bcfips = cli.version >= facts.CLI_BCFIPS_LABELS_SINCE
    issuer, start, final, subject = (
        ("IssuerDN", "Start Date", "Final Date", "SubjectDN")
        if bcfips
        else ("Issuer Name", "Validity From", "           To", "Subject Name")
    )
    key = "RSA" if isinstance(cert.public_key(), rsa.RSAPublicKey) else "EC"
    digest = cert.signature_hash_algorithm
    sans = pki.san_dns(cert)
    lines = [
        "[",
        "  Version: V3",
        f"  Serial Number: {pki.serial_hex(cert)}",
        f"  SignatureAlgorithm: {digest.name.upper() if digest else 'NONE'}with{key}",
        f"  {issuer}: {cert.issuer.rfc4514_string()}",
        f"  {start}: {cli_date(cert.not_valid_before_utc)}",
        f"  {final}: {cli_date(cert.not_valid_after_utc)}",
        f"  {subject}: {cert.subject.rfc4514_string()}",
        f"  Key: {key} ({pki.key_size(cert)} bits)",
        f"  Extensions: {len(cert.extensions)} present",
    ]
    if sans:
        lines += [
            "  [",
            "     Extension: SubjectAlternativeName (OID.2.5.29.17)",
            "     Critical: false",
            *(f"     [DNSName: {name}]" for name in sans),
            "  ]",
        ]
    lines.append("]")
    return lines


async def csr_gen(cli: CliSession, args: list[str]) -> None:
    """``set csr gen <unit>``: a single-server CSR on this node."""
    if len(args) != 1:
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    unit = args[0]
    asks_ou = cli.version >= facts.CLI_INCLUDE_OU_SINCE
    if asks_ou:
        answer = (await cli.ask(facts.CLI_INCLUDE_OU_PROMPT)).strip().lower()
        if answer not in ("yes", "no"):
            cli.fail(facts.CLI_INVALID_COMMAND)
            return
    try:
        # The unit's own key: EC for an ECDSA unit, RSA otherwise.
        cli.cluster.generate_csr(cli.node, unit, facts.REST_SINGLE_SERVER_DISTRIBUTION)
    except LabError as exc:
        cli.fail(exc.message)
        return
    done = facts.CLI_CSR_GENERATED_WITH_OU_QUESTION if asks_ou else CSR_GENERATED
    cli.say(done.format(unit=unit))


async def csr_show(cli: CliSession, args: list[str]) -> None:
    """``show csr own <unit>``."""
    if len(args) != 1:
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    pending = cli.node.pending.get(args[0])
    if pending is None:
        cli.fail(facts.CLI_NO_CSR.format(unit=args[0]))
        return
    cli.say(*pki.pem(pending.csr).strip().splitlines())


async def cert_import(cli: CliSession, args: list[str]) -> None:
    """``set cert import own|trust <unit>``: the certificate is pasted at the prompt."""
    if len(args) not in (2, 3) or args[0].lower() not in ("own", "trust"):
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    kind, unit = args[0].lower(), args[1]
    cli.say(facts.CLI_PASTE_PROMPT)
    lines: list[str] = []
    while True:
        line = await cli.term.readline()
        if line is None:
            raise SessionClosed
        lines.append(line.strip())
        if _END_CERT in line:
            break
    pem = "\n".join(line for line in lines if line) + "\n"
    try:
        if kind == "trust":
            cli.cluster.upload_trust(cli.node, [unit], [pem], "Trust Certificate")
        else:
            if cli.version >= facts.CLI_MULTI_SAN_IMPORT_REFUSED_SINCE and cli.cluster.multi_san(
                pem
            ):
                cli.fail(facts.CLI_MULTI_SAN_IMPORT_REFUSED)
                return
            cli.cluster.upload_identity(cli.node, unit, [pem])
    except LabError as exc:
        cli.fail(exc.message)
        return
    cli.say(*(line.format(unit=unit) for line in facts.CLI_CERT_IMPORTED))


async def cert_delete(cli: CliSession, args: list[str]) -> None:
    """``set cert delete trust <store>/<file>`` after a confirmation ([DOC S5]; lab.facts)."""
    if len(args) != 2 or args[0].lower() not in ("own", "trust"):
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    if args[0].lower() == "own":
        cli.fail(facts.CLI_CERT_OWN_DELETE_REFUSED)
        return
    path = args[1]
    store, _, file = path.partition("/")
    if file not in cli.node.trust.get(store, {}):
        cli.fail(facts.CLI_CERT_NOT_FOUND.format(path=path))
        return
    answer = (await cli.ask(facts.CLI_CERT_DELETE_PROMPT.format(path=path))).strip().lower()
    if answer not in ("y", "yes"):
        cli.say(facts.CLI_CERT_DELETE_ABORTED)
        return
    try:
        cli.cluster.delete_trust(cli.node, store, file)
    except LabError as exc:
        cli.fail(exc.message)
        return
    cli.say(facts.CLI_CERT_DELETED.format(path=path))


async def cert_regen(cli: CliSession, args: list[str]) -> None:
    """``set cert regen <unit>``: a new self-signed certificate (and key) for the unit on this
    node, replacing whatever the unit had, CA-signed or not (§1.2, [DOC S5]); it is served
    once the unit's services restart."""
    if len(args) != 1:
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    try:
        cli.cluster.regenerate_self_signed(cli.node, args[0])
    except LabError as exc:
        cli.fail(exc.message)
        return
    cli.say(*(line.format(unit=args[0]) for line in facts.CLI_CERT_REGENERATED))


async def ctl_update(cli: CliSession, args: list[str]) -> None:
    """``utils ctl update CTLFile`` on the CUCM publisher."""
    if args:
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    if not (cli.node.publisher and cli.node.product == "cucm"):
        cli.fail(facts.CLI_CTL_NOT_PUBLISHER)
        return
    answer = await cli.ask("This operation updates the CTLFile. Do you want to continue? (y/n):")
    if answer.strip().lower() not in ("y", "yes"):
        cli.say(facts.CLI_CTL_ABORTED)
        return
    cli.say("Updating CTL file")
    try:
        cli.cluster.ctl_update(cli.node)
    except LabError as exc:
        cli.fail(exc.message)
        return
    cli.say(
        "CTL file Updated",
        "Please Restart the TFTP and Cisco CallManager services on all nodes in the "
        "cluster that run these services",
    )


async def show_ctl(cli: CliSession, args: list[str]) -> None:
    """``show ctl``."""
    ctl = cli.cluster.ctl
    if cli.cluster.security_mode != 1 and ctl is None:
        cli.say(
            "Length of CTL file: 0",
            "CTL File not found. Please run CTLClient plugin or run the CLI - utils ctl.. "
            "to generate the CTL file.",
            "Error occured while parsing the CTL file.",
        )
        return
    signer = cli.cluster.publisher.own["CallManager"].cert
    serial = (ctl or {}).get("signer_serial") or pki.serial_hex(signer)
    updated = (ctl or {}).get("updated", "")
    # The file as it was last written (at installation or by an update), not the
    # certificates installed since.
    written = ctl["records"] if ctl is not None else cli.cluster.install_ctl_records
    records = [(r["fqdn"], r["address"], r["serial"]) for r in written]
    body = f"{serial}|{updated}|{','.join(r[0] for r in records)}".encode()
    cli.say(
        "The checksum value of the CTL file:",
        f"{hashlib.md5(body, usedforsecurity=False).hexdigest()}(MD5)",
        f"{hashlib.sha1(body, usedforsecurity=False).hexdigest()}(SHA1)",
        "",
        f"Length of CTL file: {1024 + 512 * len(records)}",
        f"The CTL File was last modified on {updated or 'installation'}",
        "",
        "Parse CTL File",
        "----------------",
        "Version:        1.2",
        f"SignerID:       {serial}",
        f"Number of records: {len(records)}",
    )
    for i, (fqdn, address, record_serial) in enumerate(records, start=1):
        cli.say(
            "",
            f"CTL Record #:{i}",
            "----",
            "FUNCTION    CCM+TFTP",
            f"DNSNAME     {fqdn}",
            f"IP ADDRESS  {address}",
            f"SERIALNUMBER {record_serial}",
        )
    cli.say("", "The CTL file was verified successfully.")
