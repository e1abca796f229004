"""ACME (RFC 8555) backend for CSRs made on CUCM, validated through dns-01 or http-01 hooks.

Modules: :mod:`.backend` (``AcmeCa``: order, poll, finalize), :mod:`.hooks` (the challenge
hook interfaces and the command dns-01 hook), :mod:`.wire` (sessions on certbot's ``acme``
library and error mapping) and :mod:`.state` (account key and open orders on disk).
"""
