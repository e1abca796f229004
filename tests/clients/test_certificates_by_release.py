"""ucrenew's certificate clients on twins of releases with and without the REST API.

The Certificate Management REST API is CUCM 14 and later ([DOC S8], cucm-interfaces.md §2,
§11): on 12.5 ucrenew's REST client meets Tomcat's 404 like on a real node, a non-retryable
error naming the node, while OS Administration serves the same steps (§3, [DOC S1]).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from activities.cert_paths import choose_path
from activities.clients.cucm.certmgr import CertMgrClient
from activities.clients.cucm.errors import CucmError, CucmHttpError
from activities.clients.cucm.node_certs import open_node
from lab.server import Lab
from tests.lab.conftest import LabHandle


async def test_rest_on_12_5_is_the_404_of_a_node_without_it(
    make_lab: Callable[..., Lab],
) -> None:
    async with make_lab(version="12.5.1.16900-48") as running:
        lab = LabHandle(running)
        pub = lab.endpoint("cucm-pub")
        async with CertMgrClient(pub, lab.os_admin) as rest:
            with pytest.raises(CucmHttpError) as err:
                await rest.get_identity("tomcat")
        assert err.value.status == 404 and not err.value.retryable
        assert "cucm-pub" in str(err.value)
        # The path of a 12.5 cluster never goes there: OS Administration reads the same.
        path = choose_path(running.spec.version)
        async with open_node(path.readback, pub, lab.os_admin) as web:
            pem = await web.get_identity("tomcat")
        assert pem == running.cluster.node("cucm-pub").own["tomcat"].pem


async def test_the_cli_makes_a_single_server_csr_only(make_lab: Callable[..., Lab]) -> None:
    async with make_lab(version="12.5.1.16900-48") as running:
        lab = LabHandle(running)
        sub = lab.endpoint("cucm-sub1")
        async with open_node("cli", sub, lab.os_admin) as cli:
            csr = await cli.generate_csr(
                "tomcat",
                multi_server=False,
                key_type="rsa",
                key_length=2048,
                hash_algorithm="sha256",
                alt_names=(),
            )
            assert csr.exported_nodes == [sub.fqdn]
            assert await cli.pending_csr("tomcat") == csr.csr_pem
            with pytest.raises(CucmError, match="multi-server CSR"):
                await cli.generate_csr(
                    "tomcat",
                    multi_server=True,
                    key_type="rsa",
                    key_length=2048,
                    hash_algorithm="sha256",
                    alt_names=(),
                )
