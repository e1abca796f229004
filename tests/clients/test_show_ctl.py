"""``show ctl`` read back over the CLI (``CucmCli.show_ctl``): the CTL's records and the serial
numbers of the CallManager certificates they hold, in Cisco's printed form and the lab's."""

from __future__ import annotations

from collections.abc import Callable

from activities.clients.cucm.cli import CucmCli, normalize_serial, parse_show_ctl
from lab import pki
from lab.server import Lab
from tests.lab.conftest import LabHandle

#: ``show ctl`` in the form tech note 118893 ("Migrate CUCM Mixed Mode with Tokenless CTL") shows
#: (values illustrative): a header with the signer's serial, then one tabular record per
#: CCM+TFTP server.
TECH_NOTE_118893 = """\
The checksum value of the CTL file:
0c05655de63fe2a6b5b1ec1fd3bb2e5e(MD5)
6f9b11c4ed1d1d4a3f1b0c4e9e2a4bf4f3c2a1b0(SHA1)

Length of CTL file: 4947
The CTL File was last modified on Fri Mar 06 19:45:13 CET 2015

Parse CTL File
----------------

Version:        1.2
HeaderLength:   336 (BYTES)

BYTEPOS TAG             LENGTH  VALUE
-------  ---             ------  -----
3       SIGNERID        2       149
4       SIGNERNAME      62      CN=cucm-1052-a.lab;OU=TAC;O=Cisco;L=Krakow;ST=Malopolska;C=PL
5       SERIALNUMBER    16      57:6F:C3:EE:C1:2B:51:D4:D4:0E:C6:1C:89:AC:CE:B2
6       CANAME          62      CN=cucm-1052-a.lab;OU=TAC;O=Cisco;L=Krakow;ST=Malopolska;C=PL

CTL Record #:1
----
BYTEPOS TAG             LENGTH  VALUE
-------  ---             ------  -----
1       RECORDLENGTH    2       1186
2       DNSNAME         16      cucm-1052-a.lab
3       SUBJECTNAME     62      CN=cucm-1052-a.lab;OU=TAC;O=Cisco;L=Krakow;ST=Malopolska;C=PL
4       FUNCTION        2       CCM+TFTP
5       ISSUERNAME      62      CN=cucm-1052-a.lab;OU=TAC;O=Cisco;L=Krakow;ST=Malopolska;C=PL
6       SERIALNUMBER    16      0A:3C:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE

The CTL file was verified successfully.
"""


def test_the_tech_note_form_lists_records_not_the_signer() -> None:
    """The header's SERIALNUMBER is the signer's; only the records' count as listed."""
    listing = parse_show_ctl(TECH_NOTE_118893)
    assert listing.present
    assert listing.last_modified == "Fri Mar 06 19:45:13 CET 2015"
    assert listing.records == {"cucm-1052-a.lab": "a3c112233445566778899aabbccddee"}
    assert listing.lists_serial("0a3c112233445566778899AABBCCDDEE")
    assert not listing.lists_serial("576fc3eec12b51d4d40ec61c89acceb2")


def test_a_cluster_without_a_ctl_file_lists_nothing() -> None:
    listing = parse_show_ctl(
        "Length of CTL file: 0\nCTL File not found. Please run CTLClient plugin or run the "
        "CLI - utils ctl.. to generate the CTL file.\nError occured while parsing the CTL file."
    )
    assert not listing.present and listing.records == {}


def test_serials_compare_whatever_their_separators() -> None:
    assert normalize_serial("00:0A:ff") == normalize_serial("aff") == "aff"


async def test_the_lab_ctl_keeps_the_certificates_of_its_last_update(lab: LabHandle) -> None:
    """``show ctl`` prints the CTL file, which ``utils ctl update CTLFile`` rebuilds from the
    installed certificates (CLI reference "utils ctl"; tech note 118893): a CallManager
    certificate installed after the update is not listed until the next update."""
    cluster = lab.lab.cluster
    pub = cluster.node("cucm-pub")
    async with CucmCli(lab.endpoint("cucm-pub"), lab.os_admin) as shell:
        await shell.ctl_update()
        old = pki.serial_hex(pub.own["CallManager"].cert)
        assert (await shell.show_ctl()).lists_serial(old)
        cluster.regenerate_self_signed(pub, "CallManager")
        new = pki.serial_hex(pub.own["CallManager"].cert)
        listing = await shell.show_ctl()
        assert listing.lists_serial(old) and not listing.lists_serial(new)
        await shell.ctl_update()
        assert (await shell.show_ctl()).lists_serial(new)


async def test_a_mixed_mode_installation_ctl_lists_its_install_time_certificate(
    make_lab: Callable[..., Lab],
) -> None:
    """A cluster already in mixed mode has a CTL file written before ucrenew came (tech note
    118893): a CallManager certificate installed since is not in it until an update, so the
    read-back does not take an un-updated CTL for a current one."""
    async with make_lab(security_mode=1) as running:
        handle = LabHandle(running)
        pub = running.cluster.node("cucm-pub")
        old = pki.serial_hex(pub.own["CallManager"].cert)
        running.cluster.regenerate_self_signed(pub, "CallManager")
        new = pki.serial_hex(pub.own["CallManager"].cert)
        async with CucmCli(handle.endpoint("cucm-pub"), handle.os_admin) as shell:
            listing = await shell.show_ctl()
    assert listing.present and listing.lists_serial(old) and not listing.lists_serial(new)
