"""Every behaviour of the twin that is inferred rather than confirmed on a real CUCM.

The reference marks these [INF]. They live here, and only here, so that a verification on a
real cluster changes one line instead of a hunt through the frontends. Each constant names the
open question it answers (cucm-interfaces.md §15 numbering where there is one).
"""

from __future__ import annotations

# -- Certificate Management REST (§15.1, §15.2) ---------------------------------------------
#: ``distribution`` value that asks the publisher for a multi-server (SAN) CSR over REST.
#: The GUI label is "Multi-server(SAN)"; public REST clients only ever send "this-server".
REST_MULTI_SERVER_DISTRIBUTION = "Multi-server(SAN)"
REST_SINGLE_SERVER_DISTRIBUTION = "this-server"
#: The REST CSR response carries the GUI's export banner in ``message``.
CSR_EXPORT_BANNER = "CSR export operation successful on the nodes [{nodes}]."
#: The REST identity upload response carries the GUI's upload banner in ``message``.
CERT_UPLOAD_BANNER = "Certificate upload operation successful for the nodes {nodes}."
#: Status codes and messages for REST errors the reference leaves open.
REST_TRUST_DUPLICATE_STATUS = 400
REST_TRUST_DUPLICATE_MESSAGE = "Certificate already exists in {store}"
REST_ISSUER_NOT_TRUSTED_MESSAGE = (
    "Upload failed: the issuer of this certificate ({issuer}) is not present in {store}. "
    "Upload the CA certificate chain first."
)
REST_STALE_CSR_MESSAGE = (
    "Internal error while processing the certificate: the certificate does not match the CSR "
    "pending for {service}"
)
REST_BAD_FORMAT_MESSAGE = "Invalid certificate: only PEM or DER encoded X.509 is accepted"
#: A node whose Platform Administrative Web Service is down answers REST with this status.
REST_PAWS_DOWN_STATUS = 503

# -- Multi-server CN (§15.8) ----------------------------------------------------------------
#: Default CN of a multi-server CSR, for every purpose (confirmed only for CallManager).
MULTI_SERVER_CN = "{host}-ms.{domain}"

# -- Trust replication (§14.2.2, §15.9) -----------------------------------------------------
#: Trust stores replicated to every node of the cluster on upload.
REPLICATED_TRUST_STORES = frozenset(
    {"tomcat-trust", "CallManager-trust", "Phone-SAST-trust", "cup-xmpp-trust"}
)

# -- Control Center (§4.2, §15.5) -----------------------------------------------------------
#: soapDoControlServices only controls the node that answers; another NodeName is refused.
CONTROL_CENTER_OTHER_NODE_REASON = -1012  # "Bad arguments"
#: Restarting Cisco Tomcat through a Tomcat-hosted API is refused as unsupported.
CONTROL_CENTER_TOMCAT_REASON = -1045  # "Operation not supported"
#: SOAP fault code on the realtime throttle (the faultstring prefix itself is [CODE]).
THROTTLE_FAULTCODE = "soapenv:Server.userException"

# -- CLI (§7.2, §15.6) ----------------------------------------------------------------------
#: On subscribers ``utils service restart`` returns to the prompt after [STARTING].
SUBSCRIBER_RESTART_RETURNS_EARLY = True
#: ``utils sso status`` output (the real format is not public).
SSO_STATUS_LINES = (
    "SSO Status: {status}",
    "IdP Metadata Imported Date = {imported}",
    "SSO Test Result = {test}",
)
SSO_DISABLE_PROMPT = (
    'Disabling SSO affects every application of the cluster. Enter "Yes" to continue or any '
    "other key to abort: "
)
SSO_DISABLE_DONE = "SSO disable triggered successfully"
SSO_ENABLE_GUI_ONLY = (
    "SSO can be enabled only from the Cisco Unified CM Administration GUI: "
    "System > SAML Single Sign-On."
)
CLI_FAILED_LINE = "Executed command unsuccessfully"
CLI_INVALID_COMMAND = "Invalid command, please check the syntax"

# -- AXL (§6, §15.11) -----------------------------------------------------------------------
AXL_SUPPORTED_VERSIONS = ("12.5", "14.0", "15.0")

# -- Timings (§13, §15.7): see lab/timing.py for the realistic and fast profiles -------------
