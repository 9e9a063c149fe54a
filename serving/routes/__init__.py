"""The API's routers, one per area, each with its own prefix and tags."""
