"""ucrenew package."""
