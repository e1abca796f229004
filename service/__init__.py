"""The ucrenew service: one ASGI app serving the authenticated action API, sign-in, the web
dashboard and the codec endpoint. In a deployment only the workers and this service reach
Temporal, so every action on a change is taken by a signed-in person under the inventory's
policy."""
