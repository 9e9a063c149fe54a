"""Whether this deployment may be reached by others: the development defaults are refused once it is.

A service is *exposed* when it runs in production or listens beyond the loopback interface. Exposed, it
must not run with the public development pseudonym key (anyone could compute the pseudonyms of known student
numbers, and the demo tokens, which are derived from that key) nor with demo users (one per role, admin
included, with tokens printed on a terminal). :func:`exposure_problems` lists what is wrong; ``vsv serve``
and the app's start-up refuse to run while the list is not empty.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import Engine, inspect, text

from settings import DEV_PSEUDONYM_KEY, Settings

DEMO_PREFIX = "demo-"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_exposed(settings: Settings, host: str) -> bool:
    return settings.environment == "production" or not is_loopback(host)


def active_demo_users(engine: Engine) -> list[str]:
    """Names of demo users (``vsv users demo``) that can still log in."""
    if not inspect(engine).has_table("users"):
        return []  # a store that is not migrated yet has no users at all
    with engine.connect() as conn:
        names = conn.execute(
            text(
                "SELECT name FROM users WHERE name LIKE :prefix AND active "
                "AND revoked_at IS NULL ORDER BY name"
            ),
            {"prefix": DEMO_PREFIX + "%"},
        ).scalars()
        return [str(n) for n in names]


def exposure_problems(settings: Settings, host: str, engine: Engine | None) -> list[str]:
    """Why this deployment may not be exposed as configured (empty when it may, or when it is not exposed)."""
    if not is_exposed(settings, host):
        return []
    where = "in production" if settings.environment == "production" else f"listening on {host}"
    problems = []
    if settings.pseudonym_key == DEV_PSEUDONYM_KEY:
        problems.append(
            f"VSV_PSEUDONYM_KEY is the public development key, refused {where}: set a secret key of your "
            "own (e.g. `openssl rand -hex 32`) before the first import"
        )
    demo = active_demo_users(engine) if engine is not None else []
    if demo:
        problems.append(
            f"demo users can log in ({', '.join(demo)}), refused {where}: revoke them with "
            f"`vsv users revoke NAME` and give people their own tokens (`vsv users add`)"
        )
    return problems
