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


def already_exists(message: str, code: str = "RESOURCE_ALREADY_EXISTS") -> ApiError:
    return ApiError(409, code, message)


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
        """A parameter from the query string (GET, HEAD, DELETE) or the JSON body."""
        if self.method in ("GET", "HEAD") or (self.method == "DELETE" and not self.body):
            return self.query.get(name, default)
        value = self.json().get(name)
        return self.query.get(name, default) if value is None else value

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
