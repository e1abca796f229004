"""Protocol clients (CUCM, CAs, PKI helpers); nothing here imports temporalio."""
