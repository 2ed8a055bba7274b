"""Fixtures for the real services: OpenSSH sshd, PostgreSQL, HTTP servers."""

from tests.integration.postgres_server import *  # noqa: F401,F403
from tests.integration.redis_server import redis_server  # noqa: F401,E402
from tests.integration.sshd_server import *  # noqa: F401,F403
from tests.integration.store_replay import new_inbox  # noqa: F401,E402
