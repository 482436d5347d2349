"""The databricks backend's SDK client and the translation of its errors: a
``WorkspaceClient`` made lazily (databricks-sdk's own auth: host/profile, DATABRICKS_HOST /
DATABRICKS_TOKEN / DATABRICKS_CONFIG_PROFILE, ~/.databrickscfg) with its retry budget, the
workspace URL read without the network, a TCP/TLS probe of the host, the current user, and the
mapping of SDK and network errors into bricksmith errors with hints."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bricksmith.backends import databricks_http
from bricksmith.backends.databricks_data import UPLOAD_WORKERS
from bricksmith.errors import BackendError

RETRY_S = 120  # the SDK retries transient errors (429, 503, dropped connections) this long
PROBE_TIMEOUT_S = 5  # a TCP connect to the workspace before the SDK's first call
DBFS_DENIED_HINT = (
    "the workspace may have DBFS root disabled (new accounts have none): put the data in a "
    "Unity Catalog volume, data[].target: /Volumes/<catalog>/<schema>/<volume>/data; or ask a "
    "workspace admin for access to that DBFS folder"
)


class DatabricksClient:
    """Mixed into ``DatabricksBackend`` (which sets ``host``, ``profile``, ``cluster_id``,
    ``retry_policy``, ``_client``, ``_user``, ``_lock`` and gives ``describe``)."""

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                self._client = self._make_client(RETRY_S)
            return self._client

    def _make_client(self, retry_s: int):
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        with self.errors("configure the Databricks client"):
            config = Config(host=self.host, profile=self.profile, retry_timeout_seconds=retry_s,
                            max_connection_pools=UPLOAD_WORKERS)  # urllib3's pool_maxsize
            client = WorkspaceClient(config=config)
        databricks_http.install(client.api_client, self.retry_policy)  # 500/502/504
        return client

    def _where(self) -> str | None:
        """The workspace URL in use: the target's, the client's, else DATABRICKS_HOST or the
        profile's ``host`` in the config file (read without the SDK: no network)."""
        import configparser
        import os

        if self.host:
            return self.host
        if self._client is not None:
            return self._client.config.host
        if os.environ.get("DATABRICKS_HOST"):
            return os.environ["DATABRICKS_HOST"]
        file = Path(os.environ.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg").expanduser()
        parser = configparser.ConfigParser()
        with contextlib.suppress(OSError, configparser.Error):
            parser.read(file)
        section = self.profile or os.environ.get("DATABRICKS_CONFIG_PROFILE") or "DEFAULT"
        with contextlib.suppress(configparser.Error, KeyError):
            return parser[section].get("host") or None
        return None

    def workspace_url(self) -> str | None:
        """The workspace URL in use, read without the network (None: none is configured)."""
        return self._where()

    def _login_hint(self) -> str:
        where = self._where()
        if where:
            return (f"create a personal access token in {where} (Settings → Developer → Access "
                    f"tokens) and export DATABRICKS_TOKEN, or run `databricks auth login --host "
                    f"{where}`" + (f" and use profile {self.profile}" if self.profile else ""))
        return (f"check profile {self.profile or 'DEFAULT'} in ~/.databrickscfg, or run "
                "`databricks auth login`")

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Map SDK and network errors raised while doing ``action`` into bricksmith errors.

        A wrong or expired token is answered 403 ``{"error_code": 403, "message": "Invalid
        access token."}`` (databricks-sdk-go issues 795, 873, 917), which the SDK raises as
        PermissionDenied: it is reported as a login problem, naming the host."""
        from databricks.sdk import errors as sdk

        who = self.describe()
        login = (
            f"set DATABRICKS_TOKEN for {self.host}"
            if self.host
            else f"check profile {self.profile or 'DEFAULT'} in ~/.databrickscfg"
        )
        try:
            yield
        except databricks_http.ServerErrorsPersisted as exc:
            raise BackendError(
                f"{who} kept answering with server errors while trying to {action}: {exc}",
                hint="the workspace (or a gateway in front of it) is failing; "
                "apply again later to resume",
            ) from None
        except databricks_http.ServerErrorUnconfirmed as exc:
            raise BackendError(
                f"{who} answered with a server error while trying to {action}: {exc}",
                hint="apply again to resume: what the call made is looked up before it is "
                "made again",
            ) from None
        except sdk.Unauthenticated as exc:
            raise BackendError(
                f"{who} rejected the credentials while trying to {action}: {_short(exc)}",
                hint=self._login_hint(),
            ) from None
        except sdk.PermissionDenied as exc:
            if "invalid access token" in str(exc).lower():
                raise BackendError(
                    f"the Databricks workspace {self._where() or who} rejected the access "
                    "token (wrong or expired) "
                    f"while trying to {action}",
                    hint=self._login_hint(),
                ) from None
            if "dbfs:/" in action:
                raise BackendError(
                    f"{who}: not allowed to {action}: {_short(exc)}", hint=DBFS_DENIED_HINT
                ) from None
            raise BackendError(
                f"{who}: not allowed to {action}: {_short(exc)}",
                hint="ask a workspace admin for the permission, or use another target",
            ) from None
        except sdk.NotFound as exc:
            raise BackendError(f"{who}: not found while trying to {action}: {exc}") from None
        except sdk.DatabricksError as exc:
            raise BackendError(f"{who}: could not {action}: {exc}") from None
        except ValueError as exc:  # the SDK's config errors (no host, no credentials)
            if "auth" in str(exc).lower() or "host" in str(exc).lower():
                raise BackendError(
                    f"cannot connect to Databricks ({who}): {exc}",
                    hint=f"{login}; the SDK reads DATABRICKS_HOST/DATABRICKS_TOKEN too",
                ) from None
            raise
        except TimeoutError as exc:
            last = exc.__cause__
            if isinstance(last, sdk.DatabricksError):  # the SDK retried it for its budget
                spent = str(exc).removeprefix("Timed out after ")
                throttled = isinstance(last, (sdk.TooManyRequests, sdk.TemporarilyUnavailable))
                raise BackendError(
                    f"{who} kept answering {databricks_http.describe_answer(last)} "
                    f"for {spent} while trying to {action}",
                    hint="the workspace is rate-limiting (429) or unavailable (503): try "
                    "again later, or with fewer steps at once (-p); apply resumes"
                    if throttled else "the workspace kept failing: try again later; "
                    "apply resumes",
                ) from None
            raise BackendError(
                f"{who} did not answer while trying to {action}: {exc}",
                hint="check the host and your network; apply again to resume",
            ) from None
        except OSError as exc:
            raise BackendError(
                f"{who} did not answer while trying to {action}: {exc}",
                hint="check the host and your network; apply again to resume",
            ) from None

    def _probe_host(self) -> None:
        """Fail in seconds, naming the host, when nothing answers at the workspace URL (the
        SDK would first spend its retry budget on host metadata, then on the call)."""
        import os
        import socket
        from urllib.parse import urlsplit

        if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                                           "http_proxy", "ALL_PROXY", "all_proxy")):
            return  # the SDK goes through the proxy: a direct connection proves nothing
        where = self._where()
        split = urlsplit(where or "")
        if not split.hostname:
            return
        port = split.port or (443 if split.scheme == "https" else 80)
        why = None
        try:
            with socket.create_connection((split.hostname, port), timeout=PROBE_TIMEOUT_S) as conn:
                if split.scheme == "https":
                    why = _tls_refusal(conn, split.hostname)
        except socket.gaierror:
            why = f"DNS lookup failed (the host name {split.hostname} does not resolve)"
        except TimeoutError:
            why = f"nothing answered on port {port} within {PROBE_TIMEOUT_S:g} s"
        except OSError as exc:
            why = f"the connection to port {port} failed ({exc.strerror or exc})"
        if why:
            source = ("targets.<name>.host" if self.host
                      else "DATABRICKS_HOST" if os.environ.get("DATABRICKS_HOST")
                      else f"the host of profile {self.profile or 'DEFAULT'} in ~/.databrickscfg")
            raise BackendError(
                f"cannot reach the Databricks workspace {where}: {why}",
                hint=f"check {source} (the workspace URL, e.g. "
                "https://adb-1234567890123456.7.azuredatabricks.net) and your network",
            )

    @property
    def user(self) -> str:
        if self._user is None:
            with self.errors("read the current user"):
                self._user = self.client.current_user.me().user_name
        return self._user


def _tls_refusal(conn, hostname: str) -> str | None:
    """Why a TLS handshake on the connected socket ``conn`` fails, verified as requests (the
    SDK's HTTP client) verifies: against $REQUESTS_CA_BUNDLE, $CURL_CA_BUNDLE or certifi's
    bundle; None when it succeeds. Seconds instead of the SDK's retries of a TLS error."""
    import os
    import ssl

    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if not bundle:
        try:
            import certifi  # requests' own bundle (a dependency of requests)

            bundle = certifi.where()
        except ImportError:
            bundle = None
    try:
        context = ssl.create_default_context(cafile=bundle)
        context.wrap_socket(conn, server_hostname=hostname).close()
    except ssl.SSLCertVerificationError as exc:
        return (f"its TLS certificate is not trusted ({exc.verify_message}); behind a proxy "
                "that inspects TLS, set REQUESTS_CA_BUNDLE to its certificate")
    except (ssl.SSLError, OSError) as exc:
        return f"the TLS (https) handshake failed ({getattr(exc, 'reason', None) or exc})"
    return None


def _short(exc: Exception) -> str:
    """The SDK's message without the configuration dump it appends ("Config: host=...")."""
    return str(exc).split(" Config: ", 1)[0]
