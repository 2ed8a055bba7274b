"""Fixtures for the real services: OpenSSH sshd, PostgreSQL, HTTP servers."""
