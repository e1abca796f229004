"""Protocol frontends of the twin: HTTPS (REST, SOAP), SSH CLI, and the control API."""
