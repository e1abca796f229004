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
#: ... with this message, before any authentication (the webapp that checks it is down).
REST_PAWS_DOWN_MESSAGE = "Platform Administrative Web Service is not running on this server"
#: Both banners name the nodes by short host name, separated like this.
REST_BANNER_NODE_SEPARATOR = ", "
#: A CSR request without ``distribution`` asks for a single-server CSR.
REST_DEFAULT_DISTRIBUTION = REST_SINGLE_SERVER_DISTRIBUTION
#: Trust upload success status (clients accept 200 and 201) and body: ``message`` plus one
#: outcome per certificate and store (added | replaced | exists | not-applied).
REST_TRUST_UPLOAD_STATUS = 201
REST_TRUST_UPLOAD_MESSAGE = "Certificates uploaded to {stores}"
#: Description stored when a trust upload omits it.
REST_TRUST_DEFAULT_DESCRIPTION = "Trust Certificate"
#: GET trust list answers ``{"certificates": [...]}`` (netSSL also handles a bare array).
REST_TRUST_LIST_WRAPPED = True
#: Tomcat sends the leaf followed by the intermediates it finds in tomcat-trust (not the root).
TLS_SERVES_CHAIN_FROM_TRUST = True

# -- Multi-server CN (§15.8) ----------------------------------------------------------------
#: Default CN of a multi-server CSR, for every purpose (confirmed only for CallManager).
MULTI_SERVER_CN = "{host}-ms.{domain}"
#: ... of an ECDSA purpose: [DOC S3] for CallManager-ECDSA, assumed for tomcat-ECDSA.
MULTI_SERVER_CN_ECDSA = "{host}-EC-ms.{domain}"

# -- ECDSA identities (§1.1, §10) -----------------------------------------------------------
#: The reference dates no ECDSA purpose: the lab gives nodes of this release and later a
#: self-signed tomcat-ECDSA (CUCM and IM&P) and CallManager-ECDSA (CUCM) identity.
ECDSA_IDENTITIES_SINCE = 14.0
#: Their CN (the SAN names the node's FQDN) and curve.
SELF_SIGNED_ECDSA_CN = "{host}-EC.{domain}"
SELF_SIGNED_ECDSA_KEY_LENGTH = 256
#: A CSR's key type must be the purpose's: EC for an ECDSA purpose, RSA for the others (the
#: GUI offers no other); a request that asks otherwise is refused with this message. Without a
#: key type (or length) the purpose's is used: EC 256 (SELF_SIGNED_ECDSA_KEY_LENGTH), RSA 2048.
CSR_KEY_TYPE_MISMATCH = "Invalid key type {key_type!r} for {service}"
#: A listener with an RSA and an ECDSA identity (8443: tomcat and tomcat-ECDSA; 5061:
#: CallManager and CallManager-ECDSA) serves the ECDSA one only to a client that offers ECDSA
#: alone. The lab does it by suite: such a listener speaks TLS 1.2 at most (in TLS 1.3 the
#: certificate follows the signature algorithms, which Python's ssl cannot order) and picks
#: the first of its suites, RSA ones first, that the client offers.
TLS_DUAL_IDENTITY_MAX_VERSION = "TLSv1_2"
TLS_DUAL_IDENTITY_CIPHERS = (
    "ECDHE+aRSA+AESGCM:ECDHE+aRSA+CHACHA20:ECDHE+aRSA:"
    "ECDHE+aECDSA+AESGCM:ECDHE+aECDSA+CHACHA20:ECDHE+aECDSA"
)
#: From 14SU1 on a restart of Cisco HAProxy alone activates an RSA CallManager certificate,
#: CallManager and HAProxy an ECDSA one (§10): the lab lets Cisco CallManager's restart
#: activate CallManager-ECDSA, on every release that has it.
CALLMANAGER_ECDSA_ACTIVATED_BY = "Cisco CallManager"


def csr_cn_in_san(version: str) -> bool:
    """Whether CSRs repeat the CN among the SANs: CSCus47235 left it out on 10.5(2); the
    fixed-in release is not public, so every later version is assumed to include it."""
    return not version.startswith("10.5.2")


# -- Trust replication (§14.2.2, §15.9) -----------------------------------------------------
#: Trust stores replicated to every node of the cluster on upload.
REPLICATED_TRUST_STORES = frozenset(
    {"tomcat-trust", "CallManager-trust", "Phone-SAST-trust", "cup-xmpp-trust"}
)
#: Trust stores a deletion empties on every node at once; in the others a certificate is
#: deleted on the node the command runs on only (cucm-interfaces.md §1.2, [DOC S3]).
DELETE_CLUSTER_WIDE_TRUST_STORES = frozenset(
    {"tomcat-trust", "CallManager-trust", "CAPF-trust", "Phone-SAST-trust"}
)

# -- Control Center (§4.2, §15.5) -----------------------------------------------------------
#: soapDoControlServices only controls the node that answers; another NodeName is refused.
CONTROL_CENTER_OTHER_NODE_REASON = -1012  # "Bad arguments"
#: Restarting Cisco Tomcat through a Tomcat-hosted API is refused as unsupported.
CONTROL_CENTER_TOMCAT_REASON = -1045  # "Operation not supported"
#: SOAP fault code on the realtime throttle (the faultstring prefix itself is [CODE]).
THROTTLE_FAULTCODE = "soapenv:Server.userException"
#: HTTP Basic realm of the serviceability SOAP APIs (Control Center, RisPort).
CONTROL_CENTER_REALM = "Cisco Serviceability SOAP"
#: Operations that count against (and can trip) the per-node "realtime" rate limit.
CONTROL_CENTER_THROTTLED_OPERATIONS = frozenset({"soapGetServiceStatus", "soapDoControlServices"})
#: ReasonString of the whole reply when NodeName names another node.
CONTROL_CENTER_OTHER_NODE_MESSAGE = "Bad arguments: NodeName {name} is not this node"
#: Top-level ReturnCode/ReasonCode of a soapDoControlServices reply: "0"/-1 when the request
#: was understood (per-service refusals are reported on each item), "-1" with a reason when the
#: whole request is refused.
CONTROL_CENTER_RETURN_OK = "0"
CONTROL_CENTER_RETURN_REFUSED = "-1"
#: A service that failed to start (CLI ``[NOTRUNNING]``) shows Stopped with this reason.
CONTROL_CENTER_FAILED_REASON = (-1019, "Component is not running")
#: A name the node does not know shows Unknown with this reason.
CONTROL_CENTER_NO_SUCH_SERVICE_REASON = (-1010, "No such service")
#: StartTime format (ctime-like, node local time shown as UTC in the lab).
CONTROL_CENTER_START_TIME_FORMAT = "%a %b %d %H:%M:%S %Y"
#: Generic SOAP fault injected by a ``soap-fault`` fault (Control Center and AXL).
SOAP_FAULT_CODE = "soapenv:Server"
SOAP_FAULT_STRING = "AxisFault: java.lang.NullPointerException (injected by the lab)"
#: ``?wsdl`` of Control Center, RisPort70 and AXL asks for the same credentials as the calls.
WSDL_REQUIRES_AUTH = True
#: The served WSDL's soap:address names the host and port the request came to (the SOAP
#: engine rewrites it); with False it keeps the ``https://localhost:8443`` of Cisco's copies.
WSDL_ADDRESS_FROM_REQUEST = True
#: A GET of a SOAP service URL without ``?wsdl`` (the SOAP engine's page for the service).
SOAP_SERVICE_PAGE = (
    "<html><body><h1>{service}</h1><p>Hi there, this is a Web service!</p></body></html>"
)
#: getProductInformationList product entries per node product: (name, id, short name).
PRODUCT_INFO = {
    "cucm": ("Cisco Unified Communications Manager", "CallManager", "CM"),
    "imp": ("Cisco Unified Communications Manager IM and Presence", "CUP", "CUP"),
}

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

# -- Server banners (lab/listeners.py, lab/frontends/ssh.py) ----------------------------------
#: HTTP ``Server`` header of a node's Tomcat; None leaves it out, as Tomcat 8.5 and later do
#: unless configured (12.5 and 14 run such a Tomcat).
HTTP_SERVER_HEADER: str | None = None
#: SSH identification after ``SSH-2.0-``: the OpenSSH of the RHEL 7 base of 12.5 and 14 VOS.
SSH_SERVER_VERSION = "OpenSSH_7.4"

# -- SSH CLI session and commands (lab/frontends/ssh.py, cli_commands.py; §7) ---------------
#: VOS has no exec channel: an exec (or subsystem) request gets this line and exit status 1.
CLI_EXEC_NOT_SUPPORTED = "Remote command execution is not supported; use an interactive shell"
CLI_EXEC_EXIT_STATUS = 1
#: Input typed ahead (several lines sent at once, or typed while a command runs) is echoed when
#: the CLI reads it at the next prompt or question, as a raw-mode line editor does; with False
#: it is echoed as soon as it arrives, as a cooked terminal would. Either way it is kept and
#: run in order (lab/frontends/cli_terminal.py).
CLI_TYPEAHEAD_ECHOED_WHEN_READ = True
#: The VMware lines of the login banner.
CLI_BANNER_HARDWARE = (
    "VMware Installation:",
    "        2 vCPU: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
    "        Disk 1: 110GB, Partitions aligned",
    "        8192 Mbytes RAM",
)
#: ``set cli pagination off`` answer ([DOC S5]); the lab never pages, so "on" is accepted too.
CLI_PAGINATION_OFF = "Automatic pagination is turned off"
CLI_PAGINATION_ON = "Automatic pagination is turned on"
#: Seconds ``utils service restart|start|stop`` waits for the end state before it gives up and
#: returns to the prompt (longer than the 240-600 s client budgets, so clients give up first).
#: Timing profiles override it (``TimingProfile.cli_service_wait``).
CLI_SERVICE_WAIT = 900.0
#: While a service stays STARTING/STOPPING the CLI repeats the state line this often.
CLI_PROGRESS_INTERVAL = 10.0
#: What the CLI prints when its own wait expires with the service still transitioning.
CLI_SERVICE_WAIT_EXPIRED = (
    "{name} has not reached its final state yet; check it with: utils service list"
)
#: State shown in the restart stream when the service fails to start (list shows NOTRUNNING).
CLI_SERVICE_FAILED_STATE = "FAILED"
#: ``utils service <action>`` of a name the node does not know.
CLI_UNKNOWN_SERVICE = "Invalid service name: {name}"
#: Publisher/subscriber lines of ``utils service list``: every node prints "Primary Node =true".
CLI_PRIMARY_NODE_LINE = "Primary Node =true"
#: ``utils sso status`` values (format in SSO_STATUS_LINES).
SSO_STATUS_ENABLED = "Enabled"
SSO_STATUS_DISABLED = "Disabled"
SSO_TEST_PASSED = "Passed"
SSO_TEST_BROKEN = "Failed - the IdP rejects the SP metadata (tomcat certificate changed)"
SSO_NOT_APPLICABLE = "N/A"
#: ``utils sso disable`` lists the applications before asking.
SSO_DISABLE_APPS = (
    "SSO is enabled for the following applications:",
    "    Cisco Unified CM Administration",
    "    Cisco Unified Serviceability",
    "    Cisco Unified Reporting",
    "    Cisco Unified OS Administration",
)
SSO_DISABLE_ABORTED = "SSO disable aborted"
SSO_ALREADY_DISABLED = "SSO is not enabled on this cluster"
#: From this build on ``set csr gen`` asks for the OU (14SU1 = 14.0.1.11900).
CLI_INCLUDE_OU_SINCE = (14, 0, 1, 11900)
CLI_INCLUDE_OU_PROMPT = "Include OU in CSR (yes|no)?"
#: From this build on a multi-SAN certificate cannot be imported via CLI (14SU2 = 14.0.1.12900).
CLI_MULTI_SAN_IMPORT_REFUSED_SINCE = (14, 0, 1, 12900)
CLI_MULTI_SAN_IMPORT_REFUSED = (
    "Multi-SAN certificates cannot be imported from the CLI. "
    "Use Cisco Unified OS Administration > Certificate Management."
)
#: From this build on ``show cert`` uses the BCFIPS labels (Start/Final Date, IssuerDN).
CLI_BCFIPS_LABELS_SINCE = (14, 0, 1, 12900)
#: ``set csr gen`` success line on builds that ask the OU question (CLI_INCLUDE_OU_SINCE): a
#: public client (cucm-interfaces.md S13) that answers that question compares the output to
#: this exact text, two spaces and no period; older builds print Cisco's documented line
#: (lab/frontends/cli_certs.py).
CLI_CSR_GENERATED_WITH_OU_QUESTION = "Successfully Generated CSR  for {unit}"
CLI_NO_CSR = "No CSR found for {unit}"
CLI_CERT_NOT_FOUND = "Certificate not found: {path}"
CLI_PASTE_PROMPT = "Paste the Certificate and Hit Enter"
CLI_CERT_IMPORTED = (
    "Successfully imported certificate for {unit}.",
    "Please restart services related to {unit} for the new certificate to",
    "become active.",
)
#: ``set cert delete <unit> <name>`` ([DOC S5]: the unit is ``own`` or ``trust``, the name the
#: certificate file). [INF] The file is named as ``show cert list trust`` prints it,
#: ``<store>/<file>``; the command asks this confirmation (as the GUI's Delete does) and takes
#: ``y``/``yes``; it prints this line when done. Own (identity) certificates cannot be deleted,
#: only regenerated ([DOC S3]); the CLI refuses with CLI_CERT_OWN_DELETE_REFUSED.
CLI_CERT_DELETE_PROMPT = "Deleting {path} cannot be undone. Do you want to continue (yes|no)?"
CLI_CERT_DELETED = "Successfully deleted certificate {path}."
#: ``set cert regen <unit>`` success line [DOC S5]; the reminder after it is assumed to read
#: as the import's does [INF].
CLI_CERT_REGENERATED = (
    "Successfully regenerated certificate for {unit}.",
    "Please restart services related to {unit} for the new certificate to",
    "become active.",
)
CLI_CERT_DELETE_ABORTED = "Certificate delete aborted"
CLI_CERT_OWN_DELETE_REFUSED = (
    "Own certificates cannot be deleted; regenerate them with: set cert regen <unit>"
)
#: ``utils ctl`` on a node other than the CUCM publisher.
CLI_CTL_NOT_PUBLISHER = "This command can be executed only on the publisher"
CLI_CTL_ABORTED = "Operation aborted"
#: ``show network cluster``: how a node the local one cannot reach is shown.
CLI_NETWORK_NOT_AUTHENTICATED = "not authenticated - INIT START"
#: ``utils dbreplication runtimestate`` lists the nodes of the local node's product only.
DBREPLICATION_SAME_PRODUCT_ONLY = True
DBREPLICATION_TABLES = 682
DBREPLICATION_DETAIL = {2: "Setup Completed", 4: "Setup Failed/Dropped"}
DBREPLICATION_ERRORS_LINE = "Errors or Mismatches Were Found!!!"

# -- AXL (§6, §15.11) -----------------------------------------------------------------------
AXL_SUPPORTED_VERSIONS = ("12.5", "14.0", "15.0")
#: HTTP Basic realm of AXL.
AXL_REALM = "Cisco AXL"
#: ``/axl/?wsdl`` answers on every node that serves AXL (Cisco ships AXLAPI.wsdl in the AXL
#: toolkit; no document says the node serves it), naming the AXL schema version of the node's
#: release (14.0 on 14.0.1...), or the newest supported one below it.
AXL_SERVES_WSDL = True
#: A GET of ``/axl/`` without ``?wsdl``.
AXL_SERVICE_PAGE = (
    "<html><head><title>Cisco CallManager: AXL Web Service</title></head><body>"
    "<h1>Cisco CallManager: AXL Web Service</h1><p>The AXL Web Service is working and "
    "accepting requests. Use HTTP POST to send a request.</p></body></html>"
)
#: The schema version is read from SOAPAction (``CUCM:DB ver=X op``) when present, else from
#: the namespace of the request element.
AXL_VERSION_FROM_SOAPACTION = True
#: HTML body of the 599 reply; the list is joined as "12.5, 14.0 and 15.0".
AXL_VERSION_ERROR = (
    "<html><head><title>Error</title></head><body>"
    "Incorrect axl version. Supported axl versions are {versions}</body></html>"
)
#: AXL answers 503 while one of these services (those present on the node) is not Started.
AXL_REQUIRED_SERVICES = ("Cisco AXL Web Service", "Cisco AXL Tomcat")
#: Fault of a failed AXL request: faultcode, and an ``axlError`` detail with code and message.
#: Raw AXL faults posted publicly carry soapenv:Server (axlcode 5007 on 9.1 and 10.5, 5003 on
#: 11.5), whoever is at fault; no Cisco document says so.
AXL_FAULT_CODE = "soapenv:Server"
#: A request that does not validate against the schema is refused before AXL runs it, with
#: this faultcode, no ``axlError`` detail, and the schema validator's (Xerces) message.
AXL_SCHEMA_FAULT_CODE = "soapenv:Client"
AXL_SCHEMA_MESSAGES = {
    "unexpected": (
        "cvc-complex-type.2.4.a: Invalid content was found starting with element '{element}'. "
        "One of '{{{expected}}}' is expected."
    ),
    "unexpected_end": (
        "cvc-complex-type.2.4.d: Invalid content was found starting with element '{element}'. "
        "No child element is expected at this point."
    ),
    "incomplete": (
        "cvc-complex-type.2.4.b: The content of element '{element}' is not complete. "
        "One of '{{{expected}}}' is expected."
    ),
    "attribute": (
        "cvc-complex-type.3.2.2: Attribute '{attribute}' is not allowed to appear in element "
        "'{element}'."
    ),
    "element_only": (
        "cvc-complex-type.2.3: Element '{element}' cannot have character [children], because "
        "the type's content type is element-only."
    ),
    "simple": (
        "cvc-type.3.1.2: Element '{element}' is a simple type, so it must have no element "
        "information item [children]."
    ),
    "pattern": (
        "cvc-pattern-valid: Value '{value}' is not facet-valid with respect to pattern "
        "'{pattern}' for type '{type}'."
    ),
    "max_length": (
        "cvc-maxLength-valid: Value '{value}' with length = '{length}' is not facet-valid with "
        "respect to maxLength '{max}' for type '{type}'."
    ),
    "datatype": "cvc-datatype-valid.1.2.1: '{value}' is not a valid value for '{type}'.",
}
#: axlcode of a request the lab refuses outside SQL (bad search criteria, unknown operation).
AXL_REQUEST_ERROR_CODE = 5003
#: Informix error codes/messages executeSQLQuery returns in the axlError detail.
SQL_SYNTAX_ERROR = (-201, "A syntax error has occurred.")
SQL_UNKNOWN_TABLE = (-206, "The specified table ({table}) is not in the database.")
SQL_UNKNOWN_COLUMN = (
    -217,
    "Column ({column}) not found in any table in the query (or SLV is undefined).",
)
SQL_AMBIGUOUS_COLUMN = (-324, "Ambiguous column ({column}).")
#: listProcessNode name matching ignores case; ``%`` is the only wildcard.
AXL_SEARCH_CASE_INSENSITIVE = True
#: processnode.name holds the node's FQDN (admins may also use host names or addresses).
PROCESSNODE_NAME = "{fqdn}"
#: processnode.description as an installer leaves it.
PROCESSNODE_DESCRIPTION = {"cucm": "CUCM {role}", "imp": "IM and Presence {role}"}
#: [INF] A server's processnode pkid is generated when its row is inserted (the publisher's at
#: install), so two installs never share one even with equal names: the twin derives it from
#: what sets one twin apart from another, its cluster name and its network. (ucrenew keys its
#: one-change-per-cluster lock on the publisher's name and pkid.)
PROCESSNODE_PKID_PER_INSTALL = True
#: The EnterpriseWideData pseudo-node (nodeid 1): description, nodeUsage, tkprocessnoderole.
ENTERPRISE_WIDE_DATA = ("EnterpriseWideData", "", "Publisher", 1)
#: nodeUsage of the IM&P DB publisher in the CUCM processnode table.
IMP_PUBLISHER_NODE_USAGE = "Publisher"
#: processNodeRole strings of listProcessNode per product.
PROCESS_NODE_ROLE = {"cucm": "CUCM Voice/Video", "imp": "CUCM IM and Presence"}
#: Informix booleans as executeSQLQuery returns them.
SQL_TRUE, SQL_FALSE = "t", "f"
#: doDeviceReset with deviceResetType "Apply Configuration" applies pending configuration
#: changes, restarting a phone only when one needs it; the lab has no such changes, so it
#: touches no phone (and answers true).
AXL_APPLY_CONFIG_TOUCHES_PHONE = False
#: A deviceResetType the schema lets through (its XReset accepts any string) but AXL does not
#: know is refused with AXL_REQUEST_ERROR_CODE and this message.
AXL_RESET_TYPE_ERROR = "Invalid deviceResetType: {value}"
#: axlcode and message of a request naming an item the database does not have (a get of an
#: unknown CM group; a doDeviceReset of an unknown device: with isMGCP true the name is looked
#: up among MGCP gateways, and the lab has none).
AXL_ITEM_NOT_FOUND_CODE = 5007
AXL_ITEM_NOT_FOUND_MESSAGE = "Item not valid: The specified {item} was not found"
AXL_DEVICE_NOT_FOUND_MESSAGE = AXL_ITEM_NOT_FOUND_MESSAGE.format(item="Device")
#: A reset of a phone that is not registered is accepted and changes nothing (CUCM has no
#: registration to send it to); with False the lab refuses it with AXL_REQUEST_ERROR_CODE.
AXL_RESET_UNREGISTERED_ACCEPTED = True
#: A restart (isHardReset false or deviceResetType Restart) makes the phone fetch its config,
#: ITL and CTL like a reset does, so the lab treats both alike; with False it refuses restarts.
AXL_RESTART_IS_RESET = True
#: doDeviceReset finds a device whatever the case of deviceName (names are stored upper case).
AXL_DEVICE_NAME_CASE_INSENSITIVE = True

# -- Pre-change health (lab/health.py, lab/frontends/cli_health.py) -------------------------
# The formats of ``show status``, ``show hardware`` and ``utils core active list`` follow Cisco
# tech notes 221038 and 200581, ``utils ntp status`` Cisco's NTP troubleshooting note; the
# rows of ``utils disaster_recovery history backup`` follow what public health-check scripts
# parse. What none of them shows:
#: ``show status`` Time Zone line: the lab's clock runs in UTC.
SHOW_STATUS_TIME_ZONE = "Coordinated Universal Time (Etc/UTC)"
#: ``show status`` Unified OS Version per major release (10.0 and 12.5 are in the tech notes).
UNIFIED_OS_VERSION = {10.0: "10.0.0.0-2", 12.5: "7.0.0.0-4", 14.0: "7.0.0.0-4", 15.0: "8.0.0.0-4"}
#: ``show version inactive`` on a node whose inactive partition holds no version.
SHOW_VERSION_NO_INACTIVE = "Inactive Master Version: (none)"
#: ``show version`` after the master version line when no COP file is installed.
SHOW_VERSION_NO_OPTIONS = "No Installed Software Options Found."
#: The publisher polls its server every 64 s when unsynchronised, 256 s once stable.
NTP_POLL_SECONDS = (64, 256)
#: The DRS CLI answers on the CUCM publisher only (the DRF Master Agent runs there).
DRS_CLI_PUBLISHER_ONLY = True
DRS_NOT_PUBLISHER = "The Disaster Recovery System commands are available only on the publisher"
#: ``utils disaster_recovery history backup``: header, and the text when no backup ever ran.
DRS_HISTORY_HEADER = (
    "Tar Filename:",
    "Backup Device:",
    "Completed On:",
    "Result:",
    "Backup Type:",
    "Features Backed Up:",
)
DRS_NO_HISTORY = "No {operation} history available"
DRS_NO_STATUS = "No {operation} status available"
#: Result of a failed backup, and what the history shows of a scheduled one.
DRS_FAILED_RESULT = "ERROR"
DRS_BACKUP_TYPE = "SCHEDULED"
DRS_DEVICE = "NETWORK"
#: Features a CUCM cluster backs up, and the components ``status backup`` lists per node.
DRS_FEATURES = ("UCM", "CDR_CAR", "PLM")
DRS_COMPONENTS = {"cucm": ("CCMDB", "CCMPREFS", "PLATFORM"), "imp": ("CUPDB", "PLATFORM")}
#: A backup of the lab's size completes this many minutes after it starts.
DRS_BACKUP_MINUTES = 9
#: First line of ``utils disaster_recovery status backup`` by result.
DRS_STATUS_LINE = {"SUCCESS": "Status: SUCCESS :Backup Completed...", "ERROR": "Status: ERROR"}
#: The web applications of port 8443 with a login page: path -> (title, product name,
#: products serving it). IM&P serves its administration at /cupadmin, not /ccmadmin.
WEB_LOGIN_APPS = {
    "ccmadmin": ("Cisco Unified CM Console", "Cisco Unified CM Administration", ("cucm",)),
    "cupadmin": (
        "Cisco Unified CM IM and Presence Administration",
        "Cisco Unified CM IM and Presence Administration",
        ("imp",),
    ),
    "cmplatform": (
        "Cisco Unified OS Administration",
        "Cisco Unified Operating System Administration",
        ("cucm", "imp"),
    ),
    "ccmservice": ("Cisco Unified Serviceability", "Cisco Unified Serviceability", ("cucm", "imp")),
}
#: ``/<app>`` redirects to ``/<app>/``, which redirects to this page: the login form while no
#: session is open.
WEB_LOGIN_LANDING = "showHome.do"
#: What Tomcat answers for a web application that is not deployed (``webapp-down``).
TOMCAT_NOT_FOUND_PAGE = (
    '<!doctype html><html lang="en"><head><title>HTTP Status 404 \u2013 Not Found</title>'
    '</head><body><h1>HTTP Status 404 \u2013 Not Found</h1><hr class="line" /><p><b>Type'
    "</b> Status Report</p><p><b>Description</b> The origin server did not find a current "
    "representation for the target resource or is not willing to disclose that one exists."
    "</p></body></html>"
)

# -- Certificate Management REST by release (§2, §11, §15.1) ---------------------------------
#: [DOC S8] The Certificate Management REST API (``/platformcom/api/v1/certmgr``) exists on
#: CUCM, IM&P, CUC and CER 14 and later (DevNet; cucm-interfaces.md §2, §11): before this
#: major release a node does not serve it.
CERTMGR_REST_SINCE = 14.0
#: [INF] Before CERTMGR_REST_SINCE the certmgr URLs are unknown URLs of the node's Tomcat: it
#: answers them (any method, with or without credentials) as it answers any URL no
#: application serves, its 404 page.
CERTMGR_REST_ABSENT_STATUS = 404
CERTMGR_REST_ABSENT_PAGE = TOMCAT_NOT_FOUND_PAGE
#: [DOC S3] From 14SU2 a multi-SAN certificate can be uploaded in the GUI only (§1.2); whether
#: the REST API counts as "GUI" is open (§15.1). [INF] It does not: from this build on (and on
#: 15) an identity upload over REST of a certificate whose SAN names more than one node of the
#: cluster is refused, with this status and message, and nothing is installed. Single-server
#: (this-server) identity uploads, CSR generation and trust uploads stay allowed.
REST_MULTI_SAN_IDENTITY_REFUSED_SINCE = CLI_MULTI_SAN_IMPORT_REFUSED_SINCE
REST_MULTI_SAN_IDENTITY_REFUSED_STATUS = 400
REST_MULTI_SAN_IDENTITY_REFUSED_MESSAGE = (
    "Multi-SAN certificates cannot be uploaded through the REST API. "
    "Use Cisco Unified OS Administration > Certificate Management."
)


def certmgr_rest_served(major_version: float) -> bool:
    """Whether a node of this major release serves the Certificate Management REST API."""
    return major_version >= CERTMGR_REST_SINCE


# -- Cisco Unified OS Administration, /cmplatform (docs/os-administration.md; §3, §15.12) ----
# The page contract ucrenew's adapter and this twin both follow is docs/os-administration.md;
# [CODE S26] marks what public scripts that drive /cmplatform show, the rest is [INF] here.
#: [CODE S26] Tomcat's session cookie.
CMPLATFORM_SESSION_COOKIE = "JSESSIONID"
#: [INF] Idle timeout of a session, seconds (Tomcat's session-timeout). Timing profiles carry
#: it (``TimingProfile.cmplatform_session_idle``), so a test can expire a session quickly; a
#: ``session-expired`` fault ends sessions at once.
CMPLATFORM_SESSION_IDLE_SECONDS = 1800.0
#: [INF] Sessions live in the node's Tomcat: a restart of Cisco Tomcat ends them.
CMPLATFORM_SESSIONS_SURVIVE_TOMCAT_RESTART = False
#: [INF] A refused login answers 200, the login form again, with this text in
#: ``<div id="loginError">``.
CMPLATFORM_LOGIN_ERROR = "Invalid username or password"
#: [CODE S26] What a page answers to a POST with a missing, reused or stale Struts token.
CMPLATFORM_TOKEN_REFUSED = "Couldn't get token. You may be trying too often."  # noqa: S105
#: [INF] The status area: ``<div id="statusMessage" class="...">``, one class per outcome (the
#: token refusal is an error); several lines of a message are joined by CMPLATFORM_STATUS_BREAK.
CMPLATFORM_STATUS_SUCCESS_CLASS = "cuesStatus-success"
CMPLATFORM_STATUS_ERROR_CLASS = "cuesStatus-error"
CMPLATFORM_STATUS_BREAK = "<br>"
#: [INF] A refused POST (token, validation, the node's error) answers the page's form again, with
#: a fresh token, under the status area: a page view like any other.
CMPLATFORM_REFUSAL_SHOWS_FORM = True
#: [DOC S1, S3] The Distribution choice of a multi-server (SAN) CSR.
CMPLATFORM_MULTI_SERVER_DISTRIBUTION = "Multi-server(SAN)"
#: [DOC S1, S2] Banners after Generate CSR and after an identity upload (node host names);
#: [INF] the separators: ", " inside the CSR banner's brackets, "," in the upload banner, as
#: the contract quotes them.
CMPLATFORM_CSR_BANNER = "CSR export operation successful on the nodes [{nodes}]."
CMPLATFORM_CSR_BANNER_SEPARATOR = ", "
CMPLATFORM_UPLOAD_BANNER = "Certificate upload operation successful for the nodes {nodes}."
CMPLATFORM_UPLOAD_BANNER_SEPARATOR = ","
#: [INF] First line of every successful upload (trust or identity).
CMPLATFORM_UPLOAD_SUCCESS = "Success: Certificate Uploaded"
#: [INF] Download CSR when the purpose has none pending.
CMPLATFORM_NO_CSR = "No CSR found for {purpose}"
#: [INF] Content types of a downloaded CSR (with ``attachment; filename=<purpose>.csr``) and of
#: a downloaded certificate.
CMPLATFORM_CSR_CONTENT_TYPE = "application/pkcs10"
CMPLATFORM_CERT_CONTENT_TYPE = "application/x-pem-file"
#: [INF] Form values the pages accept: key types (RSA, EC), hash algorithms.
CMPLATFORM_KEY_TYPES = ("RSA", "EC")
CMPLATFORM_KEY_LENGTHS = {"RSA": (1024, 2048, 3072, 4096), "EC": (256, 384)}
CMPLATFORM_HASH_ALGORITHMS = ("SHA256", "SHA384", "SHA512")
#: [INF] ECDSA purposes (tomcat-ECDSA, CallManager-ECDSA) are offered from this major release.
CMPLATFORM_ECDSA_SINCE = 11.0
#: [INF] Message of a form value outside the page's choices (nothing is done).
CMPLATFORM_BAD_VALUE = "Invalid value for {field}: {value}"
#: [INF] A node whose Platform Administrative Web Service is down refuses the certificate
#: actions (Generate CSR, Upload) with this message; the pages themselves still show.
CMPLATFORM_PAWS_DOWN_MESSAGE = (
    "The operation failed: Platform Administrative Web Service is not running on this server"
)
#: [INF] Certificate list: the ``type`` cell per kind of row and the expiration date format.
CMPLATFORM_TYPE_SELF_SIGNED = "Self-signed"
CMPLATFORM_TYPE_CA_SIGNED = "CA-signed"
CMPLATFORM_TYPE_CSR = "CSR Only"
CMPLATFORM_TYPE_TRUST = "trust-cert"
CMPLATFORM_EXPIRATION_FORMAT = "%m/%d/%Y"
#: [INF] Description stored when a trust upload leaves it empty.
CMPLATFORM_TRUST_DEFAULT_DESCRIPTION = REST_TRUST_DEFAULT_DESCRIPTION


# -- Initial state ---------------------------------------------------------------------------
#: Services of a freshly started lab report this uptime (a production node's services have run
#: for days), so start-time comparisons behave as on a real cluster.
INITIAL_UPTIME_SECONDS = 5 * 24 * 3600

# -- Timings (§13, §15.7): see lab/timing.py for the realistic and fast profiles -------------

# -- Phones, CM groups, CTL/ITL (§6.2, §9, §14.2.6, §15.7; lab/phones.py) --------------------
#: Services whose leaving Started drops the registrations of the node's phones. A restart of the
#: service that serves the CallManager certificate (Cisco HAProxy on 14+) drops only the TLS
#: sessions of secure phones, which then re-validate the node's certificate.
PHONE_REGISTRATION_SERVICES = ("Cisco CallManager",)
#: A phone whose failover target is a stopped or unreachable node tries the next member of its
#: CM group at once; with no member available it waits and re-evaluates on the next change.
#: Fallback moves a phone from the backup to the primary without an unregistered gap
#: (register with the primary first, then drop the backup).
PHONE_FALLBACK_WITHOUT_GAP = True
#: An unreachable node is noticed by SCCP phones after 2 to 3 missed keepalives.
SCCP_MISSED_KEEPALIVES = (2.0, 3.0)
#: TFTP serves one cluster-wide ITL: the installed CallManager certificates of every CUCM node
#: as of the latest Cisco Tftp (re)start on any node.
ITL_FROM_LATEST_TFTP_START = True
#: Phones reset to fetch a new ITL when TFTP serves one that lists an *active* CallManager
#: certificate the phone does not know yet ("Phone Interaction on Certificate Update").
ITL_RESET_ON_ACTIVE_CHANGE = True
#: [INF] The first release whose CUCM resets phones by itself after a CallManager certificate
#: change: 14, which introduced "Phone Interaction on Certificate Update" (cucm-interfaces.md
#: §9 and §11, [DOC S4]); before it, Cisco's procedure has the administrator reset the phones
#: after the restarts (tech notes 118731 and 214231). That nothing resets them on 12.5 and
#: earlier is what no source states outright.
ITL_AUTO_RESET_SINCE = 14.0
#: ``utils ctl update CTLFile`` lists each node's installed and active CallManager certificate.
#: A secure phone accepts a downloaded CTL only when it lists a certificate the phone already
#: trusts (stands in for the signer check through the ITL/TVS), and registers with a node only
#: when that node's active CallManager certificate is in its CTL.
CTL_ACCEPT_IF_KNOWN_CERT_LISTED = True
#: CSCup28852 starts once a multi-server CallManager certificate is active on any node.
CSCUP28852_NEEDS_MULTI_SERVER = True
#: Phone models of the population (name, RisPort Model enum, Product enum), by protocol.
PHONE_MODELS = {
    "SCCP": ("Cisco 7841", 621, 623),
    "SIP": ("Cisco 8845", 36670, 36677),
}
#: Directory numbers start here, device names are SEP + 12 hex digits from this base.
PHONE_FIRST_DN = 1001
PHONE_MAC_BASE = 0x0C1100000000
#: Default name of a node's CallManager entity (``callmanager.name``, AXL callManagerName).
CALLMANAGER_NAME = "CM_{hostname}"
#: callmanagergroupmember.priority is 0-based in the database; AXL shows 1-based priorities.
SQL_CM_GROUP_PRIORITY_BASE = 0
AXL_CM_GROUP_PRIORITY_BASE = 1

# -- RisPort70 (§5, §15.4) ------------------------------------------------------------------
#: Most devices one selectCmDevice(Ext) reply returns, whatever MaxReturnedDevices asks.
RIS_MAX_RETURNED_DEVICES = 1000
#: MaxReturnedDevices counts devices (a device listed under two nodes counts once); pages are
#: in device-name order and StateInfo carries the last name returned.
RIS_PAGE_BY_DEVICE_NAME = True
#: selectCmDeviceExt returns only each device's latest record; selectCmDevice every node's.
RIS_EXT_LATEST_ONLY = True
#: A node's UnRegistered record of a device stays listed this long (seconds, scaled by the
#: ratio of the profile's sip_keepalive to the realistic 120 s).
RIS_UNREGISTERED_RETENTION = 3600.0
#: Both operations answer inside ``selectCmDeviceReturn``.
RIS_RETURN_ELEMENT = "selectCmDeviceReturn"
#: A node that has no matching device answers ReturnCode NotFound; an unreachable one is not
#: listed by another node's RIS as NodeNotResponding.
RIS_RETURN_NOT_FOUND = "NotFound"
RIS_RETURN_NOT_RESPONDING = "NodeNotResponding"
#: RisPort counts against the same per-node "realtime" rate as Control Center.
RIS_THROTTLED_OPERATIONS = frozenset({"selectCmDevice", "selectCmDeviceExt"})
#: StatusReason of an unregistered phone (0 = none) and of a secure phone that cannot
#: validate the node's CallManager certificate (CTL mismatch).
RIS_STATUS_REASON_NONE = 0
RIS_STATUS_REASON_CTL = 9
#: Firmware loads reported for the two models.
RIS_ACTIVE_LOAD = {"SCCP": "sccp78xx.14-1-1-0001-10", "SIP": "sip88xx.14-1-1-0001-10"}

# -- SIP TLS and XMPP (§1.1, §10; lab/frontends/signalling.py) ------------------------------
#: The service whose Started state opens each port. IM&P's c2s (5222) is served by XCP
#: Connection Manager in reality; the lab ties both XMPP ports to Cisco XCP Router, whose
#: restart activates cup-xmpp(-s2s).
SIP_TLS_SERVICE = "Cisco CallManager"
XMPP_SERVICE = "Cisco XCP Router"
#: The XMPP server answers STARTTLS with <proceed/> and requires it before anything else.
XMPP_STARTTLS_REQUIRED = True
