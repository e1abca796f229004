"""Certificate authority backends behind one interface (``base.CertificateAuthority``)."""
