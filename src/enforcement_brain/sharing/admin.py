"""``eb sharing issue|rotate|revoke|list``: the agency's side of partner credentials.

Why a CLI and not an endpoint: issuing a credential is an act of the data owner on the
governance store, not something a network caller should be able to do. ``issue`` and
``rotate`` write the partner's profile file (mode 600) — the only place the clear token exists.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from enforcement_brain.errors import EbError
from enforcement_brain.settings import Settings


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``sharing`` and its actions to the ``eb`` parser."""
    p = sub.add_parser("sharing", help="issue, rotate, revoke, list partner tokens")
    actions = p.add_subparsers(dest="action", required=True)
    for name, text in (("issue", "issue a token"), ("rotate", "new token, revoke the old")):
        a = actions.add_parser(name, help=f"{text} and write the partner's profile file")
        a.add_argument("--interface", required=True, help="interface id (data_standards/…)")
        a.add_argument("--profile", default=None, help="default: var/sharing/<interface>.share")
        a.add_argument("--days", type=int, default=None, help="default: token_lifetime_days")
    r = actions.add_parser("revoke", help="revoke every live token of an interface, or one")
    r.add_argument("--interface", default=None)
    r.add_argument("--token-id", default=None)
    ls = actions.add_parser("list", help="tokens with their status (never the token itself)")
    ls.add_argument("--interface", default=None)
    return p


def run(settings: Settings, args: argparse.Namespace) -> int:
    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.sharing import credentials
    from enforcement_brain.sharing.db import connect

    engine = connect(settings.governance_db_url, create=True)
    catalog = load_catalog(settings.standards_dir)
    if getattr(args, "interface", None) and args.interface not in catalog.interfaces:
        declared = ", ".join(sorted(catalog.interfaces)) or "none"
        raise EbError(f"unknown interface {args.interface!r}; declared: {declared}")
    if args.action in {"issue", "rotate"}:
        interface = catalog.interfaces[args.interface]
        days = args.days if args.days is not None else interface.token_lifetime_days
        if args.action == "issue":
            issued, revoked = credentials.issue(engine, interface.id, days), 0
        else:
            issued, revoked = credentials.rotate(engine, interface.id, days)
        path = Path(args.profile) if args.profile else default_profile_path(settings, interface.id)
        credentials.write_profile(path, settings.sharing_endpoint, issued)
        print(
            f"{args.action}d token {issued.info.token_id} for {interface.id}, expires "
            f"{issued.info.expires_at:%Y-%m-%dT%H:%M:%SZ}; profile: {path}"
            + (f"; {revoked} older token(s) revoked" if args.action == "rotate" else "")
        )
        return 0
    if args.action == "revoke":
        n = credentials.revoke(engine, interface_id=args.interface, token_id=args.token_id)
        print(f"{n} token(s) revoked")
        return 0 if n else 1
    for t in credentials.list_tokens(engine, args.interface):
        print(
            f"{t.token_id}  {t.interface_id:<28} {t.status:<8} issued "
            f"{t.issued_at:%Y-%m-%d %H:%M} expires {t.expires_at:%Y-%m-%d %H:%M}"
        )
    return 0


def default_profile_path(settings: Settings, interface_id: str) -> Path:
    return settings.var_dir / "sharing" / f"{interface_id}.share"
