"""`python -m verify`: check what Custody publishes, offline, with this package alone.

    python -m verify bundle audit.zip --keys custody-keys.json --checkpoint seen-before.txt
    python -m verify receipt consent.jws --keys custody-keys.json
    python -m verify certificate deletion.jws --keys custody-keys.json
    python -m verify manifest manifest.jws --keys custody-keys.json
    python -m verify report report.pdf --evidence evidence.json --keys custody-keys.json

The key document is the one fetched from the service's /.well-known/custody-keys. Exits 0
when everything verifies, 1 naming the first problem when something does not, 2 on a usage
error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from verify.bundle import verify_bundle
from verify.certificates import verify_certificate
from verify.jws import verify_receipt
from verify.log import VerificationError
from verify.manifests import verify_manifest
from verify.reports import verify_report


def _json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path} is not a JSON document") from exc
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not a JSON object")
    return document


def _bundle(args: argparse.Namespace) -> str:
    document = _json(args.keys) if args.keys else None
    report = verify_bundle(args.file, document, [p.read_text() for p in args.checkpoint])
    if not report.ok:
        raise VerificationError(report.summary())
    trust = "" if args.keys else " (against the keys the bundle carries: pass --keys)"
    return report.summary() + trust


def _receipt(args: argparse.Namespace) -> str:
    claims = verify_receipt(args.file.read_text(), _json(args.keys).get("keys", []))
    print(json.dumps(claims, indent=2, sort_keys=True))
    return "receipt verifies"


def _certificate(args: argparse.Namespace) -> str:
    claims = verify_certificate(args.file.read_text(), _json(args.keys))
    print(json.dumps(claims, indent=2, sort_keys=True))
    return (
        f"certificate verifies: {len(claims['items'])} items erased at {claims['erased_at']}, "
        f"tombstone {claims['tombstone']['index']} in a checkpoint of size "
        f"{claims['checkpoint']['tree_size']}"
    )


def _manifest(args: argparse.Namespace) -> str:
    claims = verify_manifest(args.file.read_text(), _json(args.keys))
    print(json.dumps(claims, indent=2, sort_keys=True))
    return (
        f"manifest {claims['manifest']} verifies: {len(claims['items'])} allowed, "
        f"{len(claims['refused'])} refused"
    )


def _report(args: argparse.Namespace) -> str:
    data = verify_report(args.file.read_bytes(), _json(args.evidence), _json(args.keys))
    print(json.dumps(data, indent=2, sort_keys=True))
    return f"report {data['report']} verifies: it is the file the log records"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m verify", description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    checks: dict[str, tuple[Callable[[argparse.Namespace], str], str]] = {
        "bundle": (_bundle, "an exported audit bundle (zip)"),
        "receipt": (_receipt, "a consent or withdrawal receipt (compact JWS)"),
        "certificate": (_certificate, "a deletion certificate (compact JWS)"),
        "manifest": (_manifest, "a training-set manifest (compact JWS)"),
        "report": (_report, "a report file against its log entry"),
    }
    for name, (check, what) in checks.items():
        command = commands.add_parser(name, help=what)
        command.add_argument("file", type=Path, help=what)
        command.add_argument(
            "--keys",
            type=Path,
            required=name != "bundle",
            help="the key document from /.well-known/custody-keys",
        )
        if name == "bundle":
            command.add_argument(
                "--checkpoint",
                type=Path,
                action="append",
                default=[],
                help="a checkpoint seen before, which the bundle must be consistent with",
            )
        if name == "report":
            command.add_argument(
                "--evidence", type=Path, required=True, help="the entry, checkpoint and proof"
            )
        command.set_defaults(check=check)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        print(args.check(args), file=sys.stderr)
    except (OSError, ValueError, VerificationError) as exc:
        print(f"{args.command} does not verify: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
