"""The ucrenew service: the authenticated action API, the web dashboard and the codec endpoint."""
