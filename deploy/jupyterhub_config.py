# JupyterHub config for Penny for teams: one Penny service for the hub, users' servers as its clients.
#
# `make hub` runs this file as the two-company demo (alice and carol in acme, bob in globex); the tests start
# the same file. For your own hub, copy the lines marked PENNY into your jupyterhub_config.py and drop the
# demo's users, groups and password. Everything is read from the environment here only so that the demo and
# the tests can place it; a real deployment writes its values in.
#
# What runs where, and why it is safe:
# - the hub (root, to spawn each user's server as their OS user) and its proxy;
# - the Penny service as the OS user `penny`, data dir 0700: the only process with Penny's database,
#   warehouses, artifacts and signing key; it runs no kernels;
# - each user's server and kernels as that user: they hold no Penny file or secret, and reach Penny through
#   the service with their own hub identity (the sidebar with its OAuth token, kernels with
#   JUPYTERHUB_API_TOKEN). The service finds each caller's company from their hub groups.
import os
import pwd
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - JupyterHub's config loader defines it

prefix = Path(os.environ.get("PENNY_HUB_PREFIX", "/opt/penny-hub"))  # a venv everyone may run, and the proxy
state = Path(os.environ.get("PENNY_HUB_STATE", prefix / "state"))   # the hub's own database and secrets (0700)
penny_data = Path(os.environ.get("PENNY_SERVICE_DATA", prefix / "penny-data"))  # the service's alone (0700)
port = int(os.environ.get("HUB_PORT", "8000"))
public_url = f"http://{os.environ.get('HUB_HOST', '127.0.0.1')}:{port}/"
service_port = int(os.environ.get("PENNY_SERVICE_PORT", "10101"))
as_root = os.geteuid() == 0
bin_dir = Path(sys.executable).parent  # the hub's venv holds Penny too: one environment for every process

# --- the hub and its proxy ---------------------------------------------------------------------------------
state.mkdir(mode=0o700, parents=True, exist_ok=True)
c.JupyterHub.bind_url = f"http://{os.environ.get('HUB_IP', '127.0.0.1')}:{port}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{os.environ.get('HUB_API_PORT', '8081')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('HUB_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.command = [str(prefix / "node_modules/.bin/configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True

# --- the demo's people: a shared password, and their companies as hub groups ------------------------------
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ.get("HUB_PASSWORD", "penny-demo")
c.Authenticator.allowed_users = {"alice", "carol", "bob"}
c.JupyterHub.load_groups = {
    "tenant-acme": {"users": ["alice", "carol"]},   # PENNY: one group per company: tenant-<company>
    "tenant-globex": {"users": ["bob"]},
    "penny-admins": {"users": ["alice"]},           # PENNY: admins of their own company in Penny
}

# --- users' servers: JupyterLab with Penny's extension, which sees PENNY_SERVICE_URL and runs no engine -----
c.Spawner.cmd = [str(bin_dir / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.http_timeout = 90
c.Spawner.start_timeout = 180
c.Spawner.environment = {"PENNY_SERVICE_URL": public_url + "services/penny/"}  # PENNY
# PENNY: the browser's token (made by the hub's OAuth flow for the user's server) and the server's own
# JUPYTERHUB_API_TOKEN, which kernels inherit, may reach the Penny service (and only it, besides the server).
c.Spawner.oauth_client_allowed_scopes = ["access:services!service=penny"]
c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", "access:services!service=penny"]
if not as_root:
    # Without root every server runs as the hub's own OS user: a demo of the flow, NOT isolated.
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = str(state / "home" / "{username}")

# --- the Penny service ---------------------------------------------------------------------------------------
penny_data.mkdir(mode=0o700, parents=True, exist_ok=True)
service = {  # PENNY
    "name": "penny",
    "url": f"http://127.0.0.1:{service_port}",
    "command": [str(bin_dir / "penny-service"), f"--PennyConfig.data_dir={penny_data}",
                f"--PennyConfig.demo_scale={os.environ.get('PENNY_DEMO_SCALE', '0.2')}"],
    "oauth_no_confirm": True,   # the users' own service: no "authorize this app?" page
    "environment": {k: os.environ[k] for k in ("PENNY_AS_OF", "OLLAMA_HOST") if k in os.environ},
}
if as_root:
    service["user"] = "penny"   # its own OS user: users' kernels cannot read its data dir
    account = pwd.getpwnam("penny")
    service["cwd"] = account.pw_dir
    uid = account.pw_uid
    os.chown(penny_data, uid, uid)
    penny_data.chmod(0o700)
c.JupyterHub.services = [service]
c.JupyterHub.load_roles = [
    # PENNY: every user may use the service (narrow this to groups if only some may)
    {"name": "user", "scopes": ["self", "access:services!service=penny"]},
    # PENNY: the service reads who is in which group, to place each caller in their company
    {"name": "penny-service", "services": ["penny"], "scopes": ["read:users:name", "read:users:groups", "read:groups"]},
]
