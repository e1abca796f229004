"""Every client-side parsing assumption that is inferred rather than confirmed on a real CUCM.

The reference (cucm-interfaces.md) marks these [INF]; this module mirrors ``lab/facts.py`` on
the client side so that a verification on a real cluster changes one line here. Keep it
additive: other clients put their assumptions here too.
"""

from __future__ import annotations

import re

# -- Certificate Management REST (§15.1, §15.2) ---------------------------------------------
#: ``distribution`` values of POST /config/csr. Public clients only ever send "this-server";
#: the multi-server value reuses the GUI label "Multi-server(SAN)".
CSR_SINGLE_SERVER_DISTRIBUTION = "this-server"
CSR_MULTI_SERVER_DISTRIBUTION = "Multi-server(SAN)"

#: The CSR response repeats the GUI banner "CSR export operation successful on the nodes [...]"
#: in ``message``.
CSR_EXPORT_BANNER_RE = re.compile(
    r"CSR export operation successful on the nodes\s*\[(?P<nodes>[^\]]*)\]", re.IGNORECASE
)
#: The identity upload response repeats "Certificate upload operation successful for the nodes
#: ..." in ``message``; the list may or may not be bracketed and ends the sentence.
CERT_UPLOAD_BANNER_RE = re.compile(
    r"Certificate upload operation successful for the nodes\s*\[?(?P<nodes>[^\]]*?)\]?\.?\s*$",
    re.IGNORECASE | re.DOTALL,
)
#: Node names in a banner are separated by commas and/or whitespace.
BANNER_NODE_SPLIT_RE = re.compile(r"[,;\s]+")

#: A 400 on identity upload whose message matches this is "issuer not in the trust store"
#: (cisco-uc-get-cert only says "likely due to the CA certificate not being installed").
ISSUER_NOT_TRUSTED_RE = re.compile(r"issuer|CA certificate|not trusted", re.IGNORECASE)
#: A 400 on trust upload whose message matches this means every certificate already exists
#: (netSSL: "CA certificates may already exist on server").
TRUST_DUPLICATE_RE = re.compile(r"already exist", re.IGNORECASE)
#: Any 500 on identity upload means the certificate does not match the pending CSR (stale CSR,
#: or the upload already happened): netSSL "Fix stale VOS CSR reuse causing 500 errors".
IDENTITY_STALE_CSR_STATUS = 500
#: Keys of a trust upload response that may hold the per-certificate outcomes.
TRUST_OUTCOME_LIST_KEYS = ("certificates", "results")
#: Outcome key and the value assumed when a 2xx trust upload gives none.
TRUST_OUTCOME_KEYS = ("status", "outcome")
TRUST_OUTCOME_DEFAULT = "added"
#: GET /trust/certificate answers a bare array or ``{"certificates": [...]}`` (netSSL).
TRUST_LIST_KEYS = ("certificates", "certificate")


def banner_nodes(message: str, pattern: re.Pattern[str]) -> list[str]:
    """Short host names listed by a success banner; empty when the banner is absent.

    Args:
        message: The ``message`` of a certmgr response.
        pattern: :data:`CSR_EXPORT_BANNER_RE` or :data:`CERT_UPLOAD_BANNER_RE`.

    Returns:
        The node names in banner order, as the banner spells them (the caller maps them to
        inventory nodes).
    """
    match = pattern.search(message or "")
    if match is None:
        return []
    names = [n.strip("[]().") for n in BANNER_NODE_SPLIT_RE.split(match.group("nodes"))]
    return [n for n in names if n]


# -- OS Administration web interface (/cmplatform; docs/os-administration.md, §3) ------------
# The pages are a web UI, not a published API: docs/os-administration.md is the contract, and
# lab/facts.py holds the same assumptions on the twin's side. Paths and field names the public
# scraping scripts show are [CODE S26]; the rest is [INF].
#: The application's root redirects to the home page, which is the login form without a session.
OS_ADMIN_ROOT_PATH = "/cmplatform/"
OS_ADMIN_HOME_PATH = "/cmplatform/showHome.do"
#: Tomcat form login: the form posts ``appNav``, ``j_username`` and ``j_password`` here [CODE S26].
OS_ADMIN_LOGIN_PATH = "/cmplatform/j_security_check"
OS_ADMIN_LOGIN_ACTION = "j_security_check"
OS_ADMIN_LOGIN_USER_FIELD = "j_username"
OS_ADMIN_LOGIN_PASSWORD_FIELD = "j_password"  # noqa: S105 - a field name, not a password
#: Hidden field of the login form, sent with this value when the form carries none.
OS_ADMIN_APP_NAV = ("appNav", "cmplatform")
#: A refused login answers the login form again with the reason in this element.
OS_ADMIN_LOGIN_ERROR_ID = "loginError"
#: Every form page carries a one-use Struts token in a hidden field [CODE S26]; a refused one
#: leaves the status area reading "Couldn't get token. You may be trying too often." (any
#: apostrophe).
OS_ADMIN_TOKEN_FIELD = "token"  # noqa: S105 - a field name, not a secret
OS_ADMIN_TOKEN_REFUSED_RE = re.compile(r"Couldn.t get token", re.IGNORECASE)
#: The status area of a form result and the classes telling success from error.
OS_ADMIN_STATUS_ID = "statusMessage"
OS_ADMIN_STATUS_SUCCESS_CLASS = "cuesStatus-success"
OS_ADMIN_STATUS_ERROR_CLASS = "cuesStatus-error"
#: Certificate list [CODE S26 for the page]: a table with this id, one row per certificate or
#: CSR, one cell per column by class (model field -> cell class), and a link to the edit page
#: whose ``cert`` parameter is ``<store>/<file>``.
OS_ADMIN_LIST_PATH = "/cmplatform/certificateFindList.do"
OS_ADMIN_LIST_TABLE_ID = "certificateList"
OS_ADMIN_LIST_CELLS = {
    "certificate": "certificate",
    "common_name": "common-name",
    "type": "type",
    "key_type": "key-type",
    "distribution": "distribution",
    "issued_by": "issued-by",
    "expiration": "expiration",
    "description": "description",
}
OS_ADMIN_EDIT_LINK_PAGE = "certificateEdit.do"
OS_ADMIN_EDIT_LINK_PARAM = "cert"
OS_ADMIN_EXPIRATION_FORMAT = "%m/%d/%Y"
#: Generate CSR: GET the form, POST it back (page name not confirmed; field names [INF], the
#: fields themselves [DOC S3]). Distribution is "Multi-server(SAN)" or one node's host name;
#: other domains go one per line.
OS_ADMIN_GENERATE_CSR_PATH = "/cmplatform/certificateGenerateNewCsr.do"
OS_ADMIN_GENERATE_CSR_FIELDS = (
    "token",
    "certificatePurpose",
    "distribution",
    "commonName",
    "otherDomains",
    "keyType",
    "keyLength",
    "hashAlgorithm",
)
OS_ADMIN_MULTI_SERVER_DISTRIBUTION = CSR_MULTI_SERVER_DISTRIBUTION
OS_ADMIN_KEY_TYPES = {"rsa": "RSA", "ec": "EC"}
#: Download CSR: GET the form, POST it back; the answer is the PEM CSR as an attachment of this
#: type, or the status area saying no CSR is pending for the purpose.
OS_ADMIN_DOWNLOAD_CSR_PATH = "/cmplatform/certificateDownloadCsr.do"
OS_ADMIN_DOWNLOAD_CSR_FIELDS = ("token", "certificatePurpose")
OS_ADMIN_CSR_CONTENT_TYPE = "application/pkcs10"
OS_ADMIN_NO_CSR_RE = re.compile(r"No CSR found for\b", re.IGNORECASE)
#: Upload [CODE S26 for the page and ``NAME``]: multipart with the purpose or trust store in
#: ``NAME`` and the file in ``file``; ``rootCertificate`` names the issuing CA's file
#: (identity uploads only).
OS_ADMIN_UPLOAD_PATH = "/cmplatform/certificateUpload.do"
OS_ADMIN_UPLOAD_FIELDS = ("token", "NAME", "description", "file")
OS_ADMIN_UPLOAD_ROOT_FIELD = "rootCertificate"
OS_ADMIN_UPLOAD_FILE_TYPE = "application/x-x509-ca-cert"
#: An identity upload refused because the certificate does not match the pending CSR (a newer
#: CSR was generated, or it was uploaded already); refusals naming the issuer reuse
#: ISSUER_NOT_TRUSTED_RE and duplicate trust certificates TRUST_DUPLICATE_RE.
OS_ADMIN_STALE_CSR_RE = re.compile(
    r"(?:does\s*not|doesn.t|do\s*not)\s+match\b.*\bCSR\b|\bCSR\b.*\bmismatch",
    re.IGNORECASE | re.DOTALL,
)
#: Download certificate: ``?cert=<store>/<file>&format=pem`` answers the PEM; 404 when the file
#: is unknown.
OS_ADMIN_DOWNLOAD_CERT_PATH = "/cmplatform/certificateDownload.do"
OS_ADMIN_DOWNLOAD_CERT_FORMAT = "pem"
#: Redirects followed on the node (``/cmplatform/`` -> ``showHome.do``).
OS_ADMIN_MAX_REDIRECTS = 5

# -- Restarts by release (§10) ---------------------------------------------------------------
#: Build of 14SU1 (14.0.1.11900-x): from here on an RSA CallManager certificate needs only
#: Cisco HAProxy restarted, an ECDSA one CallManager and HAProxy.
CALLMANAGER_HAPROXY_ONLY_BUILD = 11900
#: Before 14, CUCM does not reset the phones by itself after a CallManager certificate change:
#: "Phone Interaction on Certificate Update" (reset phones automatically) came with 14
#: (cucm-interfaces.md §11, [DOC S4]) and Cisco's earlier procedure resets the phones as a
#: step of its own (tech notes 118731, 214231). No source says outright that nothing resets
#: them on 12.5. ucrenew's phone resets by primary rely on it (a phone reset by CUCM early
#: would fail over again when its primary stops), and a change that leaves the resets to
#: CUCM (``--no-phone-resets``) leaves the phones on the old ITL.
NO_AUTOMATIC_PHONE_RESET_BEFORE_14 = True
#: Build of 14SU2 (14.0.1.12900-x): from here on a tomcat-ECDSA certificate also needs the DRF
#: restart the 14SU2 Security Guide documents (cucm-interfaces.md §10); the services are taken
#: as tech note 221070's DRF Master (CUCM publisher) and DRF Local (every node).
TOMCAT_ECDSA_DRF_BUILD = 12900

# -- ECDSA certificates (§1.1; tls.py) -----------------------------------------------------
#: A listener that holds an RSA and an ECDSA certificate of a purpose (8443: tomcat and
#: tomcat-ECDSA; 5061: CallManager and CallManager-ECDSA) serves the ECDSA one only to a
#: client that offers ECDSA alone. The probe of an ECDSA purpose offers TLS 1.2 with ECDHE-ECDSA
#: cipher suites only: in TLS 1.3 the certificate follows the signature algorithms, which
#: Python's ssl cannot restrict.
ECDSA_ONLY_CIPHERS = "ECDHE+aECDSA+AESGCM:ECDHE+aECDSA+CHACHA20:ECDHE+aECDSA"

#: 14SU2 (build 14.0.1.12900): from here multi-SAN certificates are uploaded in the OS
#: Administration GUI only ([DOC S3] says "GUI only" for the CLI; whether the Certificate
#: Management REST API counts as GUI is open, §15.1: ucrenew assumes it does not).
MULTI_SAN_UPLOAD_GUI_ONLY_SINCE = (14, 0, 1, 12900)

# -- Control Center SOAP (§4.2-§4.4) ---------------------------------------------------------
#: A SOAP fault whose faultstring matches this is a serviceability throttle: the realtime one
#: ("Reatime" is Cisco's typo; the corrected spelling is accepted too) and its PerfMon
#: analogue ("Exceeded allowed rate for Perfmon information", §4.4); other "information"
#: kinds are assumed to be worded alike.
THROTTLE_FAULT_RE = re.compile(r"Exceeded allowed rate for \w+ information", re.I)
#: Back-off after a throttle fault: the reference's clients sleep 10-60 s, most often 30 s.
THROTTLE_RETRY_AFTER = 30.0
#: A service that failed to start shows Stopped with this reason code ("Component is not
#: running"); waiting for it to start is then pointless.
SERVICE_FAILED_REASON_CODE = -1019
#: Top-level ReturnCode of a soapDoControlServices reply that was understood ("0"); anything
#: else with an empty ServiceInfoList means the whole request was refused.
CONTROL_RETURN_OK = "0"

# -- AXL (§6.3) ------------------------------------------------------------------------------
#: AXL answers 503 when its rate limit is exceeded (a Rust client comment citing Cisco docs);
#: the client treats every AXL 503 as throttling with this back-off unless Retry-After is set.
AXL_THROTTLE_STATUS = 503
AXL_THROTTLE_RETRY_AFTER = 30.0
#: Versions listed in a 599 page: "12.5, 14.0 and 15.0"; a family wildcard such as "12.x" is
#: read as "<major>.0" and used only when no concrete version is listed.
AXL_VERSION_RE = re.compile(r"\b(\d{1,2})\.(\d|x)\b")
#: axlcode of a fault naming an item (device, user...) the database does not have ("Item not
#: valid: The specified Device was not found"): a doDeviceReset of such a name is a
#: CucmDeviceNotFound, not a failure worth retrying.
AXL_ITEM_NOT_FOUND_CODE = 5007
#: A request that does not validate against the AXL schema is refused with a fault that has no
#: axlError detail and the schema validator's (Xerces) message, "cvc-..." (lab/facts.py
#: AXL_SCHEMA_MESSAGES).
AXL_SCHEMA_REFUSAL_RE = re.compile(r"^\s*cvc-[\w.-]+:")

# -- SSH CLI (§7, §8, §15.6) ----------------------------------------------------------------
#: "Executed command unsuccessfully" ends a failed command; a service that fails while being
#: restarted shows ``[FAILED]`` (the reference: "[FAILED]/error text").
CLI_FAILED_RE = re.compile(r"Executed command unsuccessfully", re.IGNORECASE)
CLI_SERVICE_FAILED_STATES = frozenset({"FAILED", "NOTRUNNING"})
#: First output line of a command the CLI does not know.
CLI_INVALID_COMMAND_RE = re.compile(r"^\s*Invalid command\b", re.IGNORECASE)
#: ``utils service restart`` of a name the node does not know.
CLI_UNKNOWN_SERVICE_RE = re.compile(r"Invalid service name|No such service", re.IGNORECASE)
#: ``utils sso status``: "SSO Status: Enabled|Disabled" and "SSO Test Result = <result>"; a
#: result other than "Passed"/"N/A" while enabled means SSO is broken (IdP rejects the SP).
SSO_STATUS_RE = re.compile(r"SSO Status\s*[:=]\s*(?P<status>\w+)", re.IGNORECASE)
SSO_TEST_RE = re.compile(r"SSO Test Result\s*[:=]\s*(?P<result>.*)$", re.IGNORECASE | re.M)
SSO_TEST_OK_RE = re.compile(r"^\s*(pass|success|N/?A\b)", re.IGNORECASE)
#: ``utils sso disable`` asks for "Yes"; success and "was not enabled" answers.
SSO_DISABLE_CONFIRM_RE = re.compile(r'Enter\s+"?Yes"?\s+to\s+continue', re.IGNORECASE)
SSO_DISABLE_DONE_RE = re.compile(r"SSO disable.*success|successfully disabled", re.IGNORECASE)
SSO_NOT_ENABLED_RE = re.compile(r"SSO is not enabled|already disabled", re.IGNORECASE)

# -- Pre-change health over the CLI (health.py) ---------------------------------------------
# Formats: ``show status`` and ``utils core active list`` as Cisco tech notes 221038 and 200581
# show them, ``utils ntp status`` as Cisco's NTP troubleshooting note does; DRS history rows as
# public health-check scripts parse them. What those leave open:
#: ``utils ntp status`` ends in "synchronised to NTP server (<addr>) at stratum <n>" or
#: "unsynchronised"; either spelling (s/z) is accepted.
NTP_SYNCHRONISED_RE = re.compile(
    r"^\s*synchroni[sz]ed to (?:NTP server \((?P<server>[^)]*)\)|(?P<other>.+?)) at stratum "
    r"(?P<stratum>\d+)",
    re.IGNORECASE | re.MULTILINE,
)
NTP_UNSYNCHRONISED_RE = re.compile(r"^\s*unsynchroni[sz]ed\b", re.IGNORECASE | re.MULTILINE)
#: ``show status`` partition rows: ``Disk/<name>  <total>K <free>K <used>K (<n>%)``; the common
#: partition is ``Disk/logging`` (mounted on /common, tech note 221038).
SHOW_STATUS_DISK_RE = re.compile(
    r"^\s*Disk/(?P<name>\S+)\s+(?P<total>\d+)K\s+(?P<free>\d+)K\s+(?P<used>\d+)K\s+"
    r"\((?P<percent>\d+)%\)",
    re.MULTILINE,
)
COMMON_PARTITION = "logging"
#: ``show status`` opens with ``Host Name : <host>``, the node's own short host name (the
#: reference lists the command, §7 S29, but quotes no output): who answered at an address.
SHOW_STATUS_HOSTNAME_RE = re.compile(r"^\s*Host\s*Name\s*:\s*(?P<host>\S+)\s*$", re.MULTILINE)
SHOW_STATUS_VERSION_RE = re.compile(r"^\s*Product Ver\s*:\s*(?P<version>\S+)", re.MULTILINE)
SHOW_STATUS_UPTIME_RE = re.compile(r"\bup\s+(?P<uptime>.+?),\s+\d+\s+users?\b")
#: ``utils core active list``: "No core files found", or rows ``[<size> KB] <date> <name>``
#: (the tech note shows a row without size too).
CORES_NONE_RE = re.compile(r"No core files found", re.IGNORECASE)
CORE_ROW_RE = re.compile(
    r"^\s*(?:(?P<size>\d+)\s*KB\s+)?(?P<date>\d{4}-\d{2}-\d{2}\s+\d{2}:\d{2}:\d{2})\s+"
    r"(?P<name>\S+)\s*$",
    re.MULTILINE | re.IGNORECASE,
)
#: The header of the core list (``Size  Date  Core File Name``) proves the command was read.
CORES_HEADER_RE = re.compile(r"Core File Name", re.IGNORECASE)
#: ``utils disaster_recovery history backup`` rows carry the completion time as ctime with a
#: time zone abbreviation (``Sun Jan 05 02:09:13 CET 2025``) followed by the result. The
#: abbreviation is ignored and the time read as UTC: at most 14 h off, against a limit in days.
DRS_ROW_RE = re.compile(
    r"^\s*(?P<tar>\S+)\s.*?(?P<date>(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+[A-Z][a-z]{2}\s+\d{1,2}\s+"
    r"\d{2}:\d{2}:\d{2})\s+(?P<zone>[A-Za-z+-]{1,6}\d*)?\s*(?P<year>\d{4})\s+(?P<result>[A-Z_]+)",
    re.MULTILINE,
)
DRS_NO_HISTORY_RE = re.compile(r"No backup history available", re.IGNORECASE)
DRS_HISTORY_HEADER_RE = re.compile(r"Tar Filename:?\s", re.IGNORECASE)
#: Budgets of the health commands (``utils core active list`` can take minutes on a busy node).
HEALTH_COMMAND_TIMEOUT = 60.0
CORES_COMMAND_TIMEOUT = 120.0

# -- Admin web applications: the procedure's last step (webadmin.py) ------------------------
#: The login page an administrator opens on a node to see its new certificate: CUCM Unified CM
#: Administration; IM&P serves its administration at /cupadmin, not /ccmadmin.
ADMIN_LOGIN_PATH = {"cucm": "/ccmadmin/", "imp": "/cupadmin/"}
#: A login page posts ``j_username``/``j_password`` to ``j_security_check`` (the form the public
#: scripts that log in to /cmplatform fill in).
LOGIN_FORM_RE = re.compile(r"<form\b[^>]*\baction=[\"'][^\"']*j_security_check", re.IGNORECASE)
LOGIN_PASSWORD_RE = re.compile(r"<input\b[^>]*\bname=[\"']j_password[\"']", re.IGNORECASE)
HTML_TITLE_RE = re.compile(r"<title>\s*(?P<title>.*?)\s*</title>", re.IGNORECASE | re.DOTALL)
#: Redirects followed on the node itself (``/ccmadmin/`` → ``showHome.do``).
LOGIN_MAX_REDIRECTS = 5

# -- RisPort70 (§5, §15.4) -------------------------------------------------------------------
#: Devices asked for per selectCmDevice(Ext) call; servers cap it (1000 is what clients use).
RIS_MAX_RETURNED_DEVICES = 1000
#: The next page is asked for with the StateInfo of the previous reply until a page brings no
#: new device or every device of TotalDevicesFound has been seen.
RIS_MAX_PAGES = 100
#: Throttle retries of one page before CucmThrottled reaches the caller.
RIS_THROTTLE_RETRIES = 2

# -- XMPP (§1.1; RFC 6120) ------------------------------------------------------------------
#: IM&P requires STARTTLS on 5222 (c2s) and 5269 (s2s); the stream ``to`` is the IM domain,
#: taken as the node's DNS domain when not given.
XMPP_STARTTLS_TIMEOUT = 10.0

# -- Caveats of the multi-server procedure (§1.2; tech note 118731) ---------------------------
#: The command that removes a trust certificate: the reference gives ``set cert delete
#: {own|trust} <file>`` [DOC S5]; the file is named as ``show cert list trust`` prints it,
#: ``<store>/<file>`` [CODE].
CERT_DELETE_TRUST_COMMAND = "set cert delete trust {store}/{file}"
#: ``set cert delete`` is assumed to ask a confirmation, as the GUI's Delete does; the
#: client answers a ``(y/n)`` question with ``y`` and a ``(yes|no)`` one with ``yes``.
CERT_DELETE_CONFIRM: dict[str | re.Pattern[str], str] = {
    re.compile(r"\(\s*y\s*/\s*n\s*\)\s*:?", re.IGNORECASE): "y",
    re.compile(r"\(\s*yes\s*[|/]\s*no\s*\)\s*\??", re.IGNORECASE): "yes",
}
#: Success and "no such certificate" answers of ``set cert delete`` (wording not published).
CERT_DELETED_RE = re.compile(r"\b(successfully\s+deleted|deleted\s+successfully)\b", re.I)
CERT_NOT_FOUND_RE = re.compile(r"\b(not\s+found|does\s+not\s+exist|no\s+such)\b", re.I)
#: CSCup28852 (phones reset every 7 minutes) is suspected when at least this share of the
#: phones registered at a first RisPort look registered again, or were not registered, one
#: reset period later: a change's own resets are over by then, and nothing else re-registers
#: most phones of an idle cluster at once.
CSCUP28852_MIN_FRACTION = 0.5

# -- Single-server certificates over the CLI (§7.2; cli.py) ---------------------------------
#: ``show csr own <unit>`` prints the CSR between the markers a public client expects
#: (``BEGIN CERTIFICATE REQUEST``, S13); the ``NEW`` variant OpenSSL writes is accepted too.
CSR_PEM_RE = re.compile(
    r"-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----.+?-----END (?:NEW )?CERTIFICATE REQUEST-----",
    re.DOTALL,
)
#: ``show csr own <unit>`` when no CSR is pending for the unit: the wording is not published;
#: any "no CSR" / "not found" / "does not exist" answer without a PEM means none is pending.
CSR_NONE_PENDING_RE = re.compile(
    r"\bno\s+CSR\b|\bnot\s+found\b|\bdoes\s+not\s+exist\b|\bno\s+such\b", re.IGNORECASE
)
#: ``set cert import`` reads the pasted certificate up to its ``END CERTIFICATE`` line: one
#: certificate per import (a chain is imported one certificate at a time).
CERT_IMPORT_ONE_PER_PASTE = True

# -- What users lose while Cisco Tomcat restarts (catalog.tomcat_restart_losses) -------------
#: UDS (Jabber sign-in and directory search) is served by Tomcat (§1.1 [DOC S1,S3]); 14 moved
#: it into its own "Cisco UDS Tomcat" container (§4.2, [DOC S4]), but unlike AXL (§6.3) no source
#: says it survives a Cisco Tomcat restart: ucrenew says it is lost on every release.
UDS_LOST_IN_TOMCAT_RESTART_FROM_14 = True
#: Jabber signs in to its IM&P node over HTTPS (served by that node's Tomcat): users homed on
#: an IM&P node whose Tomcat restarts cannot sign in meanwhile; their open XMPP sessions stay,
#: as Cisco XCP Router does not restart.
IMP_JABBER_SIGN_IN_NEEDS_TOMCAT = True
#: Presence redundancy groups pair IM&P nodes, and discovery does not read the pairs: two IM&P
#: nodes restarting Tomcat together could be one group's both nodes. A capped wave therefore
#: holds at most this many IM&P nodes, so every group keeps one node up whatever the pairing.
IMP_NODES_PER_TOMCAT_WAVE = 1

# -- CTL read-back (rollout's ctl-update step, activities.cucm.ctl_update) -------------------
#: ``show ctl`` lists a CCM+TFTP record per node with the serial number of the CallManager
#: certificate the file holds [DOC S7]; ``utils ctl update CTLFile`` rebuilds the whole file from
#: the installed certificates [DOC S6,S7]. No source says so outright, but then a CTL that
#: already lists the publisher's installed CallManager certificate was rebuilt after it was
#: installed (a multi-server upload installs it on every node at once), and updating again would
#: change nothing: ucrenew skips the update then. False: always update.
CTL_CURRENT_IF_LISTS_INSTALLED_CALLMANAGER = True

# -- The cluster's identity (discovery.py, the one-change-per-cluster lock) -------------------
#: A CUCM cluster is told apart by its CUCM publisher's processnode row as AXL lists it
#: (listProcessNode, §6: nodeUsage ``Publisher``, processNodeRole ``CUCM Voice/Video``): its
#: name (as System > Server was typed) and its pkid (the ``uuid`` attribute). No source says
#: the pkid is unique per installation (a database row's pkid is generated when the row is
#: inserted, at install for the publisher): ucrenew keys on both, so that two clusters share
#: an identity only when both the publisher's server name and its pkid are equal.
CLUSTER_IDENTITY_FROM_PUBLISHER_PROCESSNODE = ("name", "uuid")
