"""Stockdrop: partner drop files -> validated, resolved, merged inventory -> exports and pushes."""
