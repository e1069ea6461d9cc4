"""The transports: webhook (HMAC-signed JSON), Slack incoming webhook, e-mail."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import send_mail

from perfmon.alerts.models import ChannelKind, NotificationChannel

SIGNATURE_HEADER = "X-Perfmon-Signature"


class TransportError(Exception):
    """Delivery failed; ``permanent`` failures are not retried."""

    def __init__(self, message: str, *, permanent: bool = False, response_code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.response_code = response_code


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=<hex HMAC-SHA256 of the exact body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _without_url(message: str, url: str) -> str:
    """``message`` naming the URL's host only: a Slack incoming webhook's URL is its secret, and a
    webhook's may carry a token in its path or query, while the message is logged and shown."""
    parts = urlsplit(url)
    message = message.replace(url, f"{parts.scheme}://{parts.hostname or ''}/…")
    rest = url[len(f"{parts.scheme}://{parts.netloc}"):]  # path, query and fragment as given
    return message.replace(rest, "/…") if rest not in ("", "/") else message


def _post(url: str, body: bytes, headers: dict) -> int:
    try:
        response = requests.post(url, data=body, headers=headers, timeout=settings.PERFMON_NOTIFY_TIMEOUT,
                                 allow_redirects=False)
    except requests.RequestException as exc:
        raise TransportError(_without_url(f"{exc.__class__.__name__}: {exc}", url)) from None
    if 200 <= response.status_code < 300:
        return response.status_code
    # 4xx means the receiver rejects this message for good, except 408/429 (try later).
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
    raise TransportError(
        f"HTTP {response.status_code}: {response.text[:200]}", permanent=permanent, response_code=response.status_code
    )


def _slack_text(payload: dict) -> str:
    if payload["event"] == "test":
        return payload["message"]
    alert = payload["alert"]
    icon = {"alert.opened": ":red_circle:", "alert.updated": ":warning:", "alert.resolved": ":white_check_mark:"}
    word = {"alert.opened": "Alert", "alert.updated": "Still failing", "alert.resolved": "Resolved"}
    text = f"{icon.get(payload['event'], '')} *{word.get(payload['event'], payload['event'])}*: {alert['title']}"
    if alert["occurrences"] > 1 and payload["event"] != "alert.resolved":
        text += f" ({alert['occurrences']} runs)"
    return text


def deliver(channel: NotificationChannel, event: str, payload: dict, delivery_id: str) -> int | None:
    """Send one notification; returns the HTTP status (None for e-mail). Raises TransportError."""
    if channel.kind == ChannelKind.WEBHOOK:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "perfmon-notifier",
            "X-Perfmon-Event": event,
            "X-Perfmon-Delivery": delivery_id,
        }
        if channel.secret:
            headers[SIGNATURE_HEADER] = sign(channel.secret, body)
        return _post(channel.url, body, headers)
    if channel.kind == ChannelKind.SLACK:
        body = json.dumps({"text": _slack_text(payload)}).encode()
        return _post(channel.url, body, {"Content-Type": "application/json"})
    if channel.kind == ChannelKind.EMAIL:
        recipients = [address.strip() for address in channel.email_to.split(",") if address.strip()]
        if not recipients:
            raise TransportError("the channel has no e-mail recipients", permanent=True)
        subject = f"[perfmon] {_slack_text(payload).split(': ', 1)[-1]}" if payload["event"] != "test" else (
            "[perfmon] test notification"
        )
        try:
            send_mail(subject, json.dumps(payload, indent=2), settings.DEFAULT_FROM_EMAIL, recipients)
        except Exception as exc:  # SMTP errors of every kind: retry
            raise TransportError(f"{exc.__class__.__name__}: {exc}") from None
        return None
    raise TransportError(f"unknown channel kind {channel.kind!r}", permanent=True)
