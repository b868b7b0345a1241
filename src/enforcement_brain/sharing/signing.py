"""Short-lived signed URLs for the data files the service itself serves.

Why sign instead of checking the bearer token on file downloads: the stock client fetches file
URLs with a plain HTTP GET (fsspec), without the profile's token — exactly like an S3 presigned
URL. The signature binds the interface, the dataset, the file's path inside its share table and
an expiry; changing any of them (or waiting) invalidates the URL.

When the lake is on object storage, the same role is played by S3 presigned URLs
(``boto3``'s ``generate_presigned_url``, in ``sharing/s3.py``); the service then never streams
bytes itself (see docs/sharing.md, "Object storage").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from enforcement_brain.settings import Settings

LOG = logging.getLogger("enforcement_brain.sharing")


class SignatureError(Exception):
    """A signed URL is expired, tampered with or malformed (HTTP 403)."""


@dataclass(frozen=True)
class Signer:
    secret: bytes
    ttl_seconds: int

    @staticmethod
    def message(interface_id: str, dataset_id: str, rel_path: str, expires: int) -> bytes:
        return f"v1\n{interface_id}\n{dataset_id}\n{rel_path}\n{expires}".encode()

    def sign(
        self, interface_id: str, dataset_id: str, rel_path: str, *, now: float | None = None
    ) -> tuple[int, str]:
        """``(expires_epoch_seconds, signature)`` for one file of one share table."""
        expires = int((time.time() if now is None else now) + self.ttl_seconds)
        mac = hmac.new(
            self.secret, self.message(interface_id, dataset_id, rel_path, expires), hashlib.sha256
        )
        return expires, base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def verify(
        self, interface_id: str, dataset_id: str, rel_path: str, expires: str, signature: str
    ) -> None:
        """Raise :class:`SignatureError` unless the signature matches and has not expired."""
        try:
            exp = int(expires)
        except (TypeError, ValueError):
            raise SignatureError("malformed expiry in the signed URL") from None
        mac = hmac.new(
            self.secret, self.message(interface_id, dataset_id, rel_path, exp), hashlib.sha256
        )
        expected = base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
        if not hmac.compare_digest(expected, signature or ""):
            raise SignatureError("the URL's signature does not match (tampered or foreign URL)")
        if exp < time.time():
            raise SignatureError("the signed URL has expired: query the table again for new URLs")


def signer_for(settings: Settings) -> Signer:
    """The signer of this service's file URLs: the key ``EB_SHARING_SECRET`` names.

    Every worker process must sign with the same key (a URL signed by one is fetched from
    another): ``eb serve`` sets one for its workers. Without it, a single process on a local
    lake signs with a random key of its own, and its URLs die with it.
    """
    secret = settings.sharing_secret
    if secret is None and settings.lake_is_local:
        LOG.warning({"event": "no EB_SHARING_SECRET: signing with a per-process random key"})
    return Signer((secret or secrets.token_hex(32)).encode(), settings.sharing_url_ttl_seconds)
