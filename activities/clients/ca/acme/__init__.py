"""ACME (RFC 8555) backend for CSRs made on CUCM, validated by dns-01 only.

Modules: :mod:`.backend` (``AcmeCa``: order, poll, finalize), :mod:`.hooks` (the dns-01 hook
interface and the command hook), :mod:`.wire` (sessions on certbot's ``acme`` library and
error mapping) and :mod:`.state` (account key and open orders on disk).
"""
