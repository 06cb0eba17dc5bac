"""The hub as Penny's directory (team mode): which company a hub user belongs to, with which roles, and who
is in a company. Only the Penny service asks it, with its own hub token (its role lets it read users and
groups); what the hub says is kept `hub_cache_seconds`, at most `MAX_ENTRIES` entries."""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from urllib.parse import quote

from penny_jupyter.errors import Forbidden, NotFound, Unavailable
from penny_jupyter.settings import PennyConfig
from penny_jupyter.tenancy import Principal, principal_from_groups

log = logging.getLogger("penny.hub")

MAX_ENTRIES = 10_000  # users (and groups) remembered at once; the oldest go first


class TTLCache:
    """A bounded map whose entries count for `ttl` seconds."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES, clock=time.monotonic) -> None:
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._items: OrderedDict[str, tuple[float, object]] = OrderedDict()

    def get(self, key: str):
        hit = self._items.get(key)
        if hit is None or self.clock() - hit[0] > self.ttl:
            self._items.pop(key, None)
            return None
        return hit[1]

    def put(self, key: str, value) -> None:
        self._items[key] = (self.clock(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)


class HubDirectory:
    def __init__(self, config: PennyConfig, api_url: str, api_token: str) -> None:
        self.config = config
        self.api_url = api_url.rstrip("/") + "/"
        self._token = api_token
        self._groups = TTLCache(config.hub_cache_seconds)   # user -> their hub groups
        self._members = TTLCache(config.hub_cache_seconds)  # group -> its users

    async def principal(self, user: str) -> Principal:
        """Forbidden (no_tenant / several_tenants) with what the hub admin must do when the groups do not name
        exactly one tenant."""
        groups = self._groups.get(user)
        if groups is None:
            groups = (await self._get(f"users/{quote(user, safe='')}")).get("groups") or []
            self._groups.put(user, groups)
        cfg = self.config
        return principal_from_groups(user, groups, tenant_groups=cfg.tenant_groups, admin_groups=cfg.admin_groups,
                                     viewer_groups=cfg.viewer_groups)

    async def members(self, tenant: str) -> list[Principal]:
        """Everyone whose one tenant group is `tenant`'s (someone also in another tenant's group is left out:
        Penny refuses them until the hub admin fixes it)."""
        names: set[str] = set()
        for group in self._tenant_groups(tenant):
            users = self._members.get(group)
            if users is None:
                try:
                    users = (await self._get(f"groups/{quote(group, safe='')}")).get("users") or []
                except NotFound:
                    users = []
                self._members.put(group, users)
            names.update(users)
        people = []
        for name in sorted(names):
            try:
                who = await self.principal(name)
            except (NotFound, Forbidden):  # gone, or in two tenants' groups (refused until that is fixed)
                continue
            if who.tenant == tenant:
                people.append(who)
        return people

    def _tenant_groups(self, tenant: str) -> list[str]:
        tg = self.config.tenant_groups
        if isinstance(tg, dict):
            return sorted(g for g, t in tg.items() if t == tenant)
        return [f"{tg}{tenant}"]

    async def _get(self, path: str) -> dict:
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError

        try:
            resp = await AsyncHTTPClient().fetch(self.api_url + path, headers={"Authorization": f"token {self._token}"},
                                                 request_timeout=10, connect_timeout=5)
        except HTTPClientError as e:
            if e.code == 404:
                raise NotFound(f"the hub knows no {path.split('/')[0][:-1]} {path.split('/', 1)[1]!r}") from None
            if e.code in (401, 403):
                log.error("the hub refused Penny's own token for %s (HTTP %s): does the service's role grant "
                          "read:users and read:groups?", path, e.code)
                raise Unavailable("the Penny service may not read users and groups from the hub: a hub admin must "
                                  "give the service the role in the README ('Penny for teams')") from None
            raise Unavailable(f"the hub answered HTTP {e.code} when Penny asked who you are; try again shortly") \
                from None
        except OSError as e:
            raise Unavailable(f"the hub did not answer Penny ({type(e).__name__}); try again shortly") from None
        return json.loads(resp.body)
