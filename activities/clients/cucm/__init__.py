"""Protocol clients for CUCM / IM&P nodes: certmgr REST, Control Center and AXL SOAP, SSH CLI,
TLS probe. They never import temporalio; activities adapt them."""
