"""What the emulator's services see of HTTP: a parsed request, a response, an API error.

Errors are the Databricks REST API's: a JSON body ``{"error_code": ..., "message": ...}`` with
an HTTP status, which databricks-sdk maps to its typed exceptions (by ``error_code`` first, then
by status: 400 ``BadRequest``, 401 ``Unauthenticated``, 403 ``PermissionDenied``, 404
``NotFound``, 409 ``ResourceConflict``, 501 ``NotImplemented``).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any


class ApiError(Exception):
    """An error answer: HTTP ``status`` with ``{"error_code": code, "message": message}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error_code": self.code, "message": self.message}


def not_found(message: str, code: str = "RESOURCE_DOES_NOT_EXIST") -> ApiError:
    return ApiError(404, code, message)


def already_exists(
    message: str, code: str = "RESOURCE_ALREADY_EXISTS", status: int = 409
) -> ApiError:
    """An "already exists" answer. Its status depends on the API: 400 for DBFS ``create`` /
    ``put`` and for a notebook import, 409 for workspace *files* and the Files API (Go CLI
    ``libs/filer``: ``dbfs_client.go``, ``workspace_files_client.go``)."""
    return ApiError(status, code, message)


def invalid(message: str, code: str = "INVALID_PARAMETER_VALUE") -> ApiError:
    return ApiError(400, code, message)


def unsupported(what: str) -> ApiError:
    """Something the real API does that this emulator does not (501, ``NotImplemented``)."""
    return ApiError(501, "NOT_IMPLEMENTED", f"the bricksmith emulator does not support {what}")


@dataclass
class Request:
    method: str
    path: str  # the URL path, percent-decoded, without the query
    query: dict[str, str]  # last value of each query parameter
    headers: dict[str, str]  # header names lower-cased
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)  # named groups of the matched route
    form: dict[str, bytes] | None = None  # multipart/form-data fields, when the body is a form

    def json(self) -> dict[str, Any]:
        """The JSON body (``{}`` when empty); a multipart form's fields as strings."""
        if self.form is not None:
            return {k: v.decode("utf-8", "replace") for k, v in self.form.items()}
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise invalid(
                f"the request body is not valid JSON: {exc}", "MALFORMED_REQUEST"
            ) from None
        if not isinstance(value, dict):
            raise invalid("the request body must be a JSON object", "MALFORMED_REQUEST")
        return value

    def arg(self, name: str, default: Any = None) -> Any:
        """A parameter from the query string or the JSON body. A ``GET`` may carry its
        parameters as a JSON body too: the REST reference's own curl examples send
        ``curl --request GET .../clusters/get --data '{"cluster_id": ...}'``."""
        if name in self.query and (self.method in ("GET", "HEAD") or not self.body):
            return self.query[name]
        raw = "octet-stream" in self.headers.get("content-type", "")  # Files API: file bytes
        if (raw or not self.body.strip()) and self.form is None:
            return self.query.get(name, default)
        value = self.json().get(name)
        return self.query.get(name, default) if value is None else value

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean parameter. In a query string only lowercase ``true`` / ``false`` are
        booleans (databricks-sdk converts ``True`` to ``"true"`` "for Databricks APIs to
        understand booleans", ``_base_client.py``); anything else there is 400
        ``INVALID_PARAMETER_VALUE`` (the real status for e.g. ``True`` is *unverified*: this
        emulator refuses rather than guess). JSON booleans and multipart form fields (the Go
        CLI sends ``overwrite=True`` in its ``dbfs/put`` form) are read as before."""
        if name in self.query:
            value = self.query[name]
            if value not in ("true", "false"):
                raise invalid(
                    f"Invalid value {value!r} for the boolean query parameter {name}: "
                    "use true or false (lowercase)."
                )
            return value == "true"
        return as_bool(self.arg(name), default)

    def required(self, name: str) -> Any:
        value = self.arg(name)
        if value is None or value == "":
            raise invalid(f"Missing required field: {name}")
        return value


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, value: Any, status: int = 200) -> Response:
        data = json.dumps(value).encode()
        return cls(status, data, {"Content-Type": "application/json"})


def as_bool(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def as_int(value: Any, name: str, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"{name} must be an integer, got {value!r}") from None


def b64decode(value: Any, name: str) -> bytes:
    if value is None:
        return b""
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{name} is not valid base64") from None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
