"""Every behaviour of the ADCS twin that the reference does not confirm.

cucm-interfaces.md §12 confirms only: the ``certfnsh.asp`` form fields ``CertRequest`` and
``CertAttrib``, the issued page's ``certnew.cer?ReqID=<id>&amp;Enc=b64`` link, the pending page's
"Certificate Pending" and "Your Request Id is <id>.", the denied page's
``The disposition message is "<reason>"``, the retrieval failure's "Disposition message:",
``application/pkix-cert``, ``certcarc.asp``'s ``var nRenewals=<n>;`` and the ``CACert`` URLs.
Everything else the twin says is an inference from common practice and from public clients of
real ADCS; it lives here, one constant per question, so a check against a real CA changes one
line. The client (``activities/clients/ca/adcs.py``) keeps its own regexes and does not import
this module: the twin and the client are separate systems.
"""

from __future__ import annotations

# -- Request ids -----------------------------------------------------------------------------------
#: First Request Id the twin hands out. Real CAs number requests per CA database, starting
#: low and never reusing a number; the CA's own certificate often takes the first ones.
FIRST_REQUEST_ID = 2

# -- Content types ---------------------------------------------------------------------------------
#: Content type of every HTML page (issued, pending, denied, error, certcarc.asp).
HTML_CONTENT_TYPE = "text/html"
#: Content type of ``certnew.p7b``; public clients check for exactly this value.
P7B_CONTENT_TYPE = "application/x-pkcs7-certificates"
#: PEM label around the PKCS#7 that ``certnew.p7b?Enc=b64`` returns. Real ADCS is reported to
#: label it CERTIFICATE although the content is PKCS#7; the client accepts both labels.
P7B_PEM_LABEL = "CERTIFICATE"

# -- HTTP status codes -----------------------------------------------------------------------------
#: Status of every HTML answer, including denials and retrieval errors: certsrv's ASP pages
#: report failures in the page, not in the status line.
PAGE_STATUS = 200
#: Without valid credentials IIS answers 401 with a challenge; this is the twin's header.
#: Real IIS usually offers ``Negotiate`` and ``NTLM`` too;
#: the twin offers Basic only (its NTLM/Kerberos acceptors do not exist).
BASIC_CHALLENGE = 'Basic realm="{host}"'
#: Body of the 401 answer (IIS's generic page).
UNAUTHORIZED_BODY = (
    "<html><head><title>401 - Unauthorized: Access is denied due to invalid credentials."
    "</title></head><body><h2>401 - Unauthorized: Access is denied due to invalid "
    "credentials.</h2></body></html>"
)

# -- Form fields -----------------------------------------------------------------------------------
#: ``Mode`` the twin requires for a new request (the form posts ``newreq``). The other fields
#: of the browser form (TargetStoreFlags, SaveCert, FriendlyType) are accepted and ignored.
MODE_NEW_REQUEST = "newreq"
#: Attribute name inside CertAttrib that names the template (lines ``Name:Value`` joined by
#: CR LF; the reference gives ``CertificateTemplate:<name>``). Matched case-insensitively.
TEMPLATE_ATTRIBUTE = "CertificateTemplate"

# -- Disposition messages and HRESULTs -------------------------------------------------------------
#: Disposition message of an issued request.
ISSUED_DISPOSITION = "Issued"
#: Disposition message of a request waiting for a CA administrator (CR_DISP_UNDER_SUBMISSION).
PENDING_DISPOSITION = "Taken Under Submission"
#: Disposition message when a CA administrator denies a request. ADCS itself records only
#: "Denied by <officer>"; the twin appends the reason the admin action gave so tests can see
#: it travel to the orchestrator.
ADMIN_DENIED_DISPOSITION = "Denied by {officer}: {reason}"
#: Account name the twin uses as the denying officer.
ADMIN_OFFICER = "LAB\\ca-admin"
#: Disposition message when a template's policy denies at once (CERTSRV_E_TEMPLATE_DENIED:
#: the template's permissions do not let the requester enroll).
POLICY_DENIED_DISPOSITION = "Denied by Policy Module  0x80094012, {reason}"
#: Reason a deny-at-once template gives.
POLICY_DENIED_REASON = (
    "The permissions on the certificate template do not allow the current user to enroll for "
    "this type of certificate."
)
#: Disposition message for a template this CA does not offer (CERTSRV_E_UNSUPPORTED_CERT_TYPE).
UNKNOWN_TEMPLATE_DISPOSITION = (
    "Denied by Policy Module  0x80094800, The request was for a certificate template that is "
    "not supported by the Active Directory Certificate Services policy: {template}."
)
#: Disposition message when CertAttrib names no template at all (CERTSRV_E_NO_CERT_TYPE).
NO_TEMPLATE_DISPOSITION = (
    "Denied by Policy Module  0x80094801, The request does not contain a certificate template "
    "extension or the CertificateTemplate request attribute."
)
#: Disposition message for a CertRequest that is not a readable PKCS#10 (an ASN.1 error).
BAD_CSR_DISPOSITION = "Error Parsing Request  ASN1 bad tag value met. 0x8009310b (ASN: 267)"
#: "Error:" line of certnew.cer for a request still pending.
PENDING_ERROR = (
    "The certificate has not been issued yet. 0x80094003 (-2146877437 CERTSRV_E_BAD_REQUESTSTATUS)"
)
#: "Error:" line of certnew.cer for a denied request.
DENIED_ERROR = (
    "The request was denied by a certificate manager or CA administrator. "
    "0x80094014 (-2146877420 CERTSRV_E_ADMIN_DENIED_REQUEST)"
)
#: "Error:" line of certnew.cer for a request id the CA database does not hold.
NOT_FOUND_ERROR = "Cannot find object or property. 0x80092004 (-2146885628 CRYPT_E_NOT_FOUND)"
#: "Error:" line of certnew.cer for a ReqID that is not a number.
BAD_ID_ERROR = "The parameter is incorrect. 0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER)"

# -- Page wording ----------------------------------------------------------------------------------
#: Title of every certsrv page.
PAGE_TITLE = "Microsoft Active Directory Certificate Services"
#: Heading and text of the issued page (certfnsh.asp → certrsis.asp).
ISSUED_HEADING = "Certificate Issued"
ISSUED_TEXT = "The certificate you requested was issued to you."
#: Heading and text of the pending page (certrspn.asp); the Request Id sentence is confirmed.
PENDING_HEADING = "Certificate Pending"
PENDING_TEXT = (
    "Your certificate request has been received. However, you must wait for an administrator "
    "to issue the certificate you requested."
)
#: Heading and text of the denied page (certrsdn.asp).
DENIED_HEADING = "Certificate Request Denied"
DENIED_TEXT = "Your certificate request was denied."
#: Heading of the retrieval error page (certnew.cer for a request that is not issued).
ERROR_HEADING = "Certificate Services Error"
#: Separator between the "Disposition message:" label cell and its value: public clients
#: capture the value after two tabs, so the value sits on the line after the label.
LABEL_VALUE_SEPARATOR = "</TD>\r\n\t\t<TD>"

# -- Issuance --------------------------------------------------------------------------------------
#: Validity of issued leaves (the WebServer template's default is two years).
LEAF_VALIDITY_DAYS = 730

# -- Client certificate authentication -------------------------------------------------------------
#: A TLS client certificate maps to an account when its subject CN equals the account name
#: (IIS one-to-one or many-to-one mapping; the real mapping rule is site configuration).
CLIENT_CERT_MAPS_BY_CN = True

# -- CA certificate renewals -----------------------------------------------------------------------
#: ``nRenewals`` of a CA whose certificate was never renewed.
CA_RENEWALS = 0
