"""The web pages run on the API's fixtures: the same store, model, users and tokens."""

from tests.api.conftest import api, api_engine  # noqa: F401
