"""The load test's stand-in for the hub: token `bench-<name>` is user <name>. It trusts the name a token
carries, as JupyterHub's identity provider does, so each load client is its own person of its own tenant."""

from __future__ import annotations

from jupyter_server.auth.identity import IdentityProvider, User

PREFIX = "bench-"


class TokenNamesUser(IdentityProvider):
    async def get_user_token(self, handler):
        token = self.get_token(handler) or ""
        if token.startswith(PREFIX) and len(token) > len(PREFIX):
            handler._token_authenticated = True
            return User(username=token[len(PREFIX):])
        return None
