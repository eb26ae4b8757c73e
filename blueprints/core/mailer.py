"""Email for notifications: a background sender delivers the outbox (operations/emails.py) over SMTP.

Requests only write outbox rows, in the transaction of the change they report; they never wait on
SMTP. Each process with SMTP_URL set runs one sender thread that polls every OUTBOX_POLL_SECONDS;
several processes or hosts share the work safely (claims skip locked rows and hold a lease). An SMTP
outage loses nothing: the rows stay in the outbox and are retried with a doubling delay. Each
email's Message-ID is derived from its outbox row, so the rare resend after a crash between the
server's "250 OK" and our bookkeeping carries the same Message-ID and receivers can drop it.
"""

from __future__ import annotations

import logging
import os
import smtplib
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app

from blueprints.core.operations.emails import Claimed, claim_due, mark_failed, mark_sent
from models import db, utcnow

log = logging.getLogger(__name__)
SMTP_TIMEOUT = 20.0
_SENDER = "muster_outbox_sender_pid"  # app.extensions key: the pid whose thread sends for that app


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    security: str  # "starttls", "ssl" or "plain"
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """smtp://[user:pass@]host[:587] (STARTTLS), smtps://host[:465] (TLS), smtp+plain://host[:25]."""
    parts = urlsplit(url)
    security = {"smtp": "starttls", "smtps": "ssl", "smtp+plain": "plain"}.get(parts.scheme)
    if security is None or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://user:pass@host:587, smtps://host or smtp+plain://host:25")
    default_port = {"starttls": 587, "ssl": 465, "plain": 25}[security]
    return SmtpTarget(parts.hostname, parts.port or default_port, security,
                      unquote(parts.username) if parts.username else None,
                      unquote(parts.password) if parts.password else None)


def message_id(outbox_id: int, mail_from: str) -> str:
    """The same for every attempt at one outbox row."""
    domain = mail_from.rpartition("@")[2].strip(">") or "localhost"
    return f"<muster-outbox-{outbox_id}@{domain}>"


def build_message(claimed: Claimed, mail_from: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = claimed.to_address
    msg["Subject"] = "Muster: " + (claimed.message if len(claimed.message) <= 70 else claimed.message[:67] + "...")
    msg["Message-ID"] = message_id(claimed.id, mail_from)
    link = f"\n\nSee {claimed.link} in Muster." if claimed.link else ""
    msg.set_content(f"{claimed.message}{link}\n\nYou can turn these emails off in your Muster profile.\n")
    return msg


def _connect(target: SmtpTarget) -> smtplib.SMTP:
    if target.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=SMTP_TIMEOUT)
    else:
        smtp = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT)
        if target.security == "starttls":
            smtp.starttls()
    if target.username:
        smtp.login(target.username, target.password or "")
    return smtp


def send_due_emails(limit: int = 20) -> dict[str, int]:
    """Claim due outbox rows and send them over one SMTP connection: {"sent", "failed", "left"}."""
    url = current_app.config.get("SMTP_URL")
    if not url:
        return {"sent": 0, "failed": 0, "left": 0}
    claims = claim_due(limit)
    counts = {"sent": 0, "failed": 0, "left": 0}
    if not claims:
        return counts
    target, mail_from = parse_smtp_url(url), current_app.config["MAIL_FROM"]
    smtp: smtplib.SMTP | None = None
    try:
        for i, claimed in enumerate(claims):
            if utcnow() + timedelta(seconds=2 * SMTP_TIMEOUT) > claimed.lease_until:
                counts["left"] = len(claims) - i  # not tried: due again once the lease lapses, never twice
                break
            try:
                smtp = smtp or _connect(target)
                smtp.send_message(build_message(claimed, mail_from))
            except (smtplib.SMTPException, OSError) as exc:
                mark_failed(claimed, f"{type(exc).__name__}: {exc}")
                counts["failed"] += 1
                if not isinstance(exc, smtplib.SMTPRecipientsRefused):
                    smtp = _close(smtp)  # the connection may be broken: the next email opens a new one
                continue
            mark_sent(claimed)
            counts["sent"] += 1
    finally:
        _close(smtp)
    return counts


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def init_app(app: Flask) -> None:
    """With SMTP_URL set, each serving process starts its sender with its first request."""
    if not app.config.get("SMTP_URL"):
        return
    parse_smtp_url(app.config["SMTP_URL"])  # a malformed URL fails at start-up, not in the thread

    @app.before_request
    def _ensure_sender() -> None:
        if app.extensions.get(_SENDER) != os.getpid():
            start_sender(app)


def sender_started(app: Flask) -> bool:
    """Is nothing left for the before_request hook to start in this process (no SMTP, or its sender runs)?"""
    return not app.config.get("SMTP_URL") or app.extensions.get(_SENDER) == os.getpid()


def start_sender(app: Flask, interval: float | None = None) -> threading.Thread | None:
    """One daemon sender thread per app and process (a forked worker starts its own)."""
    with _lock:
        if app.extensions.get(_SENDER) == os.getpid():
            return None
        app.extensions[_SENDER] = os.getpid()
    every = interval if interval is not None else app.config.get("OUTBOX_POLL_SECONDS", 5.0)

    def run() -> None:
        while app.extensions.get(_SENDER) == os.getpid():
            try:
                with app.app_context():
                    while send_due_emails()["sent"]:
                        pass  # a full batch went out: there may be more due right away
                    db.session.remove()
            except Exception as exc:  # a database outage: keep the thread, try again next round
                log.warning("outbox: sending failed: %s", str(exc)[:200])
            time.sleep(every)

    thread = threading.Thread(target=run, name="muster-outbox-sender", daemon=True)
    thread.start()
    return thread


def stop_sender(app: Flask) -> None:
    """Let this process's sender thread end after its current round (tests)."""
    app.extensions.pop(_SENDER, None)


_lock = threading.Lock()
