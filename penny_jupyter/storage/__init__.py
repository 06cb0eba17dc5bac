"""App state: conversations, messages, conversation events and artifact metadata.

SQLite file by default, PostgreSQL by URL, one SQLAlchemy Core layer. Every row carries its tenant.
"""

from .database import Database

__all__ = ["Database"]
