"""Microsoft ADCS web enrollment backend.

Modules: :mod:`.client` (``AdcsCa``: submit and poll over certsrv), :mod:`.pages` (reading
certsrv's answers), :mod:`.auth` (how to authenticate) and :mod:`.config` (the inventory
entry and the client it describes).
"""
