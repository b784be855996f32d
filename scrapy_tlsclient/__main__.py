"""``python -m scrapy_tlsclient profiles [NAME] [--all]``: the browser
identities this package has (with ``--all``, every profile name a request
may use), or one of them in full (docs/profiles.rst)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._browsers import FAMILY_ORDERS
from ._captures import identity_from_capture
from ._config import DEFAULT_PROFILE
from ._identities import (
    FAMILIES,
    PLATFORMS,
    REQUEST_KINDS,
    Identity,
    IdentityFileError,
    load_identities,
    packaged_identity_files,
)
from ._profile_check import comparison, measure_identity
from .binding.errors import NativeError, NativeLibraryError
from .binding.library import get_library


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scrapy_tlsclient")
    commands = parser.add_subparsers(dest="command", required=True)
    profiles = commands.add_parser("profiles", help="list the browser identities, or show one")
    profiles.add_argument("name", nargs="?", help="an identity to show in full")
    profiles.add_argument("--file", action="append", default=[], help="an extra identity file (repeatable)")
    profiles.add_argument(
        "--all",
        action="store_true",
        help="also name tls-client's compiled profiles, which a request may use too",
    )
    profiles.add_argument(
        "--measure",
        action="store_true",
        help="measure NAME's fingerprints with this machine's library, beside the published ones",
    )
    convert = commands.add_parser(
        "identity-from-capture",
        help="write an identity file from a capture of a real browser (native/cmd/capture)",
    )
    convert.add_argument("capture", type=Path)
    convert.add_argument("--name", required=True)
    convert.add_argument("--family", required=True, choices=FAMILIES)
    convert.add_argument("--platform", required=True, choices=PLATFORMS)
    convert.add_argument("--mobile", action="store_true")
    convert.add_argument("--user-agent", help="instead of the captured one (another platform or brand)")
    convert.add_argument(
        "--client-hint",
        action="append",
        metavar="NAME=VALUE",
        help="instead of the captured ones (repeatable)",
    )
    convert.add_argument("--published-also", default="", help="text appended to published.source")
    args = parser.parse_args(argv)
    if args.command == "identity-from-capture":
        return _from_capture(args)
    try:
        identities = load_identities([*packaged_identity_files(), *(Path(path) for path in args.file)])
    except IdentityFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.name is None:
        if args.measure:
            parser.error("--measure needs an identity NAME")
        _list(identities)
        if args.all:
            compiled = sorted(get_library().info.profiles)
            print(
                f"\ntls-client's compiled profiles ({len(compiled)}; no identity data): {', '.join(compiled)}"
            )
        return 0
    if args.name not in identities:
        print(f"unknown identity {args.name!r}; known: {', '.join(sorted(identities))}", file=sys.stderr)
        return 2
    measured: list[str] = []
    status = 0
    if args.measure:
        try:
            identity, measurement = measure_identity(args.name, tuple(args.file))
        except (NativeError, NativeLibraryError, IdentityFileError) as exc:
            print(f"cannot measure {args.name}: {exc}", file=sys.stderr)
            return 2
        measured, matches = comparison(identity, measurement)
        # 1 when a value differs from the published one, for scripts.
        status = 0 if matches else 1
    _show(identities[args.name], measured)
    return status


def _from_capture(args: argparse.Namespace) -> int:
    capture = json.loads(args.capture.read_text(encoding="utf-8"))
    hints = None
    if args.client_hint:
        hints = [list(hint.split("=", 1)) for hint in args.client_hint]
    document = identity_from_capture(
        capture,
        name=args.name,
        family=args.family,
        platform=args.platform,
        mobile=args.mobile,
        order=list(FAMILY_ORDERS[args.family]),
        capture_path=args.capture.as_posix(),
        user_agent=args.user_agent,
        client_hints=hints,
        published_also=args.published_also,
    )
    json.dump(document, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def _list(identities: dict[str, Identity]) -> None:
    rows = [("identity", "browser", "version", "platform", "captured", "verified")]
    for name, identity in sorted(identities.items()):
        marker = " (default)" if name == DEFAULT_PROFILE else ""
        rows.append(
            (
                name + marker,
                identity.family,
                identity.version,
                identity.platform,
                identity.captured.isoformat(),
                "yes" if identity.verified else "no",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _show(identity: Identity, measured: list[str]) -> None:
    print(f"{identity.name}: {identity.family} {identity.version} on {identity.platform} ({identity.path})")
    if identity.published is None:
        print("verified: no (no published capture of the real browser to compare with)")
    else:
        print(f"published JA4:    {identity.published.ja4}")
        print(f"published JA3N:   {identity.published.ja3n or '-'}")
        print(f"published Akamai: {identity.published.akamai}")
        print(f"published in:     {identity.published.source}")
    for line in measured:
        print(line)
    for source in identity.sources:
        print(f"source ({source.covers}, {source.captured}): {source.reference}")
    print(f"user-agent: {identity.user_agent}")
    for name, value in identity.client_hints:
        print(f"{name}: {value}")
    for kind in REQUEST_KINDS:
        print(f"[{kind}]")
        for header, sent in identity.kinds[kind]:
            shown = sent if sent is not None else "(the value above, or the request's own)"
            print(f"  {header}: {shown}")


if __name__ == "__main__":
    sys.exit(main())
