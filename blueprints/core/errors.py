"""Errors raised by reads and operations, rendered as JSON under /api and as pages elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, current_app, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, SecurityError

from models import db

log = logging.getLogger(__name__)

Details = dict[str, list[str]]


class AppError(Exception):
    status = 400
    code = "BAD_REQUEST"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, details: Details | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details or {}


class BadRequest(AppError):
    status, code, message = 400, "BAD_REQUEST", "The request is malformed."


class Unauthorized(AppError):
    status, code, message = 401, "UNAUTHORIZED", "Authentication required."


class Forbidden(AppError):
    status, code, message = 403, "FORBIDDEN", "You do not have permission to do this."


class NotFound(AppError):
    status, code, message = 404, "NOT_FOUND", "Not found."


class Conflict(AppError):
    status, code, message = 409, "CONFLICT", "The request conflicts with the current state."


class UnsupportedMediaType(AppError):
    status, code, message = 415, "UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json."


class ValidationError(AppError):
    status, code, message = 422, "VALIDATION_ERROR", "Some fields are invalid."


class RateLimited(AppError):
    status, code, message = 429, "RATE_LIMITED", "Too many requests; try again later."


class ServiceUnavailable(AppError):
    status, code, message = 503, "SERVICE_UNAVAILABLE", "The database is unavailable; try again shortly."


_HTTP_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
               405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE",
               415: "UNSUPPORTED_MEDIA_TYPE", 422: "VALIDATION_ERROR", 429: "RATE_LIMITED"}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def error_body(status: int, code: str, message: str, details: Details | None = None) -> dict:
    return {"error": True, "code": code, "message": message, "details": details or {}}


def _render(status: int, code: str, message: str, details: Details | None = None):
    if wants_json():
        return error_body(status, code, message, details), status
    return render_template("errors/error.html", status=status, message=message), status


def _unavailable():
    """The 503 answer. A page is drawn signed out: loading the user (the loader, or an expired User's
    attributes) needs the database that just failed, and would turn this page into a raw 500."""
    if not wants_json():
        current_app.login_manager._update_request_context_with_user()  # no user: anonymous, this request only
    return _render(503, ServiceUnavailable.code, ServiceUnavailable.message)


def init_app(app: Flask) -> None:
    @app.errorhandler(AppError)
    def _app_error(exc: AppError):
        return _render(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(SecurityError)
    def _untrusted_host(exc: SecurityError):
        # Flask refused the Host (TRUSTED_HOSTS) before routing, so no URL can be built: no page template.
        if wants_json():
            return error_body(400, "BAD_REQUEST", "The Host header names a host this app does not serve."), 400
        return "400 Bad Request: the Host header names a host this app does not serve.\n", 400, {
            "Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "HTTP_ERROR")
        body, status = _render(status, code, exc.description or exc.name)
        # Keep what the exception says beside its body: Allow on a 405 (RFC 9110), Retry-After, ...
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return body, status, headers

    @app.errorhandler(OperationalError)
    def _db_down(exc: OperationalError):
        # Connection refused, server restarting, statement timeout: the database, not the input.
        log.warning("database unavailable: %s", exc.orig.__class__.__name__ if exc.orig else exc)
        db.session.rollback()
        return _unavailable()

    @app.errorhandler(DBAPIError)
    def _db_error(exc: DBAPIError):
        log.exception("database error")
        db.session.rollback()
        if exc.connection_invalidated:
            return _unavailable()
        return _render(500, "INTERNAL_ERROR", "Something went wrong on our side.")
