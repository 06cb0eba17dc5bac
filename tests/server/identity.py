"""A stand-in for JupyterHub/JWT in server tests: it trusts the user a token names, as a real
identity provider would, so Penny maps real usernames to tenants."""

from __future__ import annotations

from jupyter_server.auth.identity import IdentityProvider, User

TOKENS = {"tok-alice": "alice", "tok-bob": "bob", "tok-carol": "carol", "tok-dave": "dave"}


class TokenPerUser(IdentityProvider):
    async def get_user_token(self, handler):
        token = self.get_token(handler)
        if token in TOKENS:
            handler._token_authenticated = True
            return User(username=TOKENS[token])
        return None


def as_(user: str) -> dict:
    """Headers that authenticate as `user`."""
    return {"Authorization": f"token tok-{user}"}
