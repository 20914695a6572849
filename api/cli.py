"""The `custody` command."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from api.container import Container, build
from api.settings import ConfigError, Settings
from ledger.access.apikeys import ROLES
from ledger.db import make_engine, schema_is_current
from ledger.errors import CustodyError, NotFound
from ledger.log.keys import PURPOSES as KEY_PURPOSES
from ledger.log.verification import verify_database
from redaction.fill import FILLS
from redaction.redactor import MODES
from verify.bundle import verify_bundle
from verify.jws import ReceiptError, verify_receipt
from verify.log import LogReport, VerificationError


class Lazy:
    """Builds the container on first use, so `--help` needs no database and creates nothing:
    no data folder, no database, no keys. Closed with the command's context (see `main`)."""

    def __init__(self) -> None:
        self._container: Container | None = None

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def get(self, migrate: bool = True) -> Container:
        """The container; `migrate=False` for a scale-out role, which refuses to start on a
        database that `custody db upgrade` has not brought to this code's schema."""
        if self._container is None:
            try:
                settings = Settings.from_env()
                if not migrate:
                    _require_current_schema(settings)
                self._container = build(settings, migrate=migrate)
            except ConfigError as exc:
                raise click.UsageError(str(exc)) from exc
        return self._container


def _require_current_schema(settings: Settings) -> None:
    engine = make_engine(settings.db_url)
    try:
        current = schema_is_current(engine)
    finally:
        engine.dispose()
    if not current:
        raise click.ClickException(
            "the database is not at this version's schema: run `custody db upgrade` first"
        )


pass_lazy = click.make_pass_decorator(Lazy, ensure=True)


def _lazy() -> Lazy:
    """The running command's Lazy, for commands that need the container only sometimes."""
    return click.get_current_context().ensure_object(Lazy)


def no_such_tenant(tenant_id: str) -> click.ClickException:
    """The one answer to a tenant id that does not exist, whichever command was given it."""
    return click.ClickException(f"no such tenant: {tenant_id} (`custody tenants list` shows them)")


def _known_tenant(container: Container, tenant_id: str) -> None:
    """Exit 1 with `no_such_tenant` unless `tenant_id` names a tenant: every command taking
    --tenant checks it first, so that all of them say the same."""
    if not container.tenants.exists(tenant_id):
        raise no_such_tenant(tenant_id)


def _emit(as_json: bool, payload: dict[str, Any], lines: list[str]) -> None:
    click.echo(json.dumps(payload) if as_json else "\n".join(lines))


def tenant_option(
    required: bool = True, help: str = "the tenant's id (ten_...)"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--tenant", required=required, metavar="TENANT", help=help)


KEYS_OPTION = click.option(
    "--keys",
    "keys_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="key document from /.well-known/custody-keys (default: this service's keys)",
)


@click.group()
@click.version_option(package_name="custody", prog_name="custody")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Custody: consent, provenance and compliance ledger."""
    # Run only when a command is (never for --help): the container a command builds is
    # closed when it is done, whether it succeeds, fails or exits.
    ctx.call_on_close(ctx.ensure_object(Lazy).close)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@pass_lazy
def serve(lazy: Lazy, host: str, port: int, threads: int) -> None:
    """Run the web app, the scheduler and the job runner in one process."""
    from waitress import serve as waitress_serve  # type: ignore[import-untyped,unused-ignore]

    from api.app import create_app
    from api.logconfig import configure
    from api.scheduler import build_scheduler

    container = lazy.get()
    configure(container.settings.log_level)
    app = create_app(container=container)
    scheduler = build_scheduler(container)
    scheduler.start()
    where = (
        container.settings.database_url and "the configured database" or container.settings.db_url
    )
    click.echo(f"custody: serving on http://{host}:{port} (data: {where})", err=True)
    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="custody")
    finally:
        scheduler.shutdown(wait=False)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--timeout", default=60, show_default=True, type=click.IntRange(5, 3600))
@pass_lazy
def web(lazy: Lazy, host: str, port: int, workers: int, threads: int, timeout: int) -> None:
    """Run the web app alone under gunicorn: WORKERS processes of THREADS threads each.
    Scheduled and queued jobs run in `custody scheduler` and `custody worker`."""
    from api.webserver import run

    lazy.get(migrate=False).db.dispose()  # the schema checked; each worker opens its own
    click.echo(f"custody: web on http://{host}:{port} ({workers} workers)", err=True)
    run(host, port, workers, threads, timeout)


@main.command()
@pass_lazy
def scheduler(lazy: Lazy) -> None:
    """Lead the scheduled jobs (checkpoints, retention sweeps, the manifest watch, expiry):
    one process at a time leads, through a database lock; others stand by."""
    from api.scheduler import lead

    container = _role(lazy)
    click.echo("custody: scheduler standing for leadership", err=True)
    lead(container, _stop_on_signals())


@main.command()
@click.option("--once", is_flag=True, help="work through what is due now, then exit")
@pass_lazy
def worker(lazy: Lazy, once: bool) -> None:
    """Run queued jobs (redactions, webhook deliveries), claimed through the database; run
    as many workers as wanted."""
    from api.scheduler import queued_jobs, work

    container = _role(lazy)
    if once:
        ran = sum(run() for _, run, _ in queued_jobs(container))
        click.echo(f"ran {ran} jobs")
        return
    click.echo("custody: job runner working", err=True)
    work(container, _stop_on_signals())


def _role(lazy: Lazy) -> Container:
    from api.logconfig import configure

    container = lazy.get(migrate=False)
    configure(container.settings.log_level)
    return container


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the role finishes its current job and exits."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


@main.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write here (openapi.json at the repository root is the committed copy); "
    "default: standard output",
)
def openapi(out: Path | None) -> None:
    """The OpenAPI document the app serves at /openapi.json. Needs no database: the app is
    built on a throwaway one, as the document does not depend on data."""
    import tempfile

    from api.app import create_app
    from api.openapi import render

    with tempfile.TemporaryDirectory(prefix="custody-openapi-") as folder:
        container = build(Settings(data_dir=Path(folder)))
        try:
            text = render(create_app(container=container).spec)  # type: ignore[arg-type]
        finally:
            container.close()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
@pass_lazy
def upgrade(lazy: Lazy) -> None:
    """Apply every migration (also done on start)."""
    lazy.get()
    click.echo("schema is up to date")


@main.group()
def tenants() -> None:
    """Platforms using this service."""


@tenants.command("create")
@click.argument("name")
@click.option(
    "--role",
    default="admin",
    show_default=True,
    type=click.Choice(ROLES),
)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@pass_lazy
def tenants_create(lazy: Lazy, name: str, role: str, as_json: bool) -> None:
    """Create a tenant, its log and a first API key (shown once)."""
    created = _domain(lambda: lazy.get().tenants.create(name, role))
    _emit(
        as_json,
        {"tenant": created.tenant_id, "log": created.log_id, "api_key": created.api_key.token},
        [
            f"tenant:  {created.tenant_id}",
            f"log:     {created.log_id}",
            f"origin:  {created.origin}",
            f"api key: {created.api_key.token}  ({created.api_key.role}; shown once, keep it safe)",
        ],
    )


@tenants.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_lazy
def tenants_list(lazy: Lazy, as_json: bool) -> None:
    """Every tenant: its id, its log, the log's size in entries, when it was created."""
    rows = lazy.get().tenants.list()
    payload = [{"tenant": t.id, "log": log.id, "name": t.name, "size": log.size} for t, log in rows]
    table = [("TENANT", "LOG", "ENTRIES", "CREATED", "NAME")] + [
        (t.id, log.id, str(log.size), t.created_at.isoformat(timespec="seconds"), t.name)
        for t, log in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    _emit(
        as_json,
        {"tenants": payload},
        [
            f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  "
            f"{row[3]:<{widths[3]}}  {row[4]}"
            for row in table
        ],
    )


@main.group()
def apikeys() -> None:
    """API keys of a tenant."""


@apikeys.command("create")
@tenant_option()
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--json", "as_json", is_flag=True)
@pass_lazy
def apikeys_create(lazy: Lazy, tenant: str, role: str, as_json: bool) -> None:
    container = lazy.get()
    _known_tenant(container, tenant)
    issued = _domain(lambda: container.apikeys.create(tenant, role))
    _emit(
        as_json,
        {
            "id": issued.key_id,
            "tenant": issued.tenant_id,
            "role": issued.role,
            "api_key": issued.token,
        },
        [f"api key: {issued.token}  ({issued.role}, id {issued.key_id}; shown once)"],
    )


@apikeys.command("revoke")
@click.argument("key_id")
@pass_lazy
def apikeys_revoke(lazy: Lazy, key_id: str) -> None:
    _domain(lambda: lazy.get().apikeys.revoke(key_id))
    click.echo(f"revoked {key_id}")


@apikeys.command("list")
@tenant_option()
@click.option("--json", "as_json", is_flag=True)
@pass_lazy
def apikeys_list(lazy: Lazy, tenant: str, as_json: bool) -> None:
    container = lazy.get()
    _known_tenant(container, tenant)
    keys = _domain(lambda: container.apikeys.list(tenant))
    payload = [{"id": k.id, "role": k.role, "revoked": k.revoked_at is not None} for k in keys]
    _emit(
        as_json,
        {"keys": payload},
        [f"{p['id']}  {p['role']:<8}  {'revoked' if p['revoked'] else 'active'}" for p in payload],
    )


@main.group()
def keys() -> None:
    """Signing keys."""


@keys.command("rotate")
@click.option("--purpose", default="log", show_default=True, type=click.Choice(KEY_PURPOSES))
@pass_lazy
def keys_rotate(lazy: Lazy, purpose: str) -> None:
    """Replace the active key; the old one stays published (and, for log keys, co-signs
    checkpoints during the overlap). The rotation goes on every tenant's log."""
    container = lazy.get()
    rotation = _domain(lambda: container.keys.rotate(container.appender, purpose))
    click.echo(
        f"{purpose} key {rotation.old_kid} -> {rotation.new_kid}; "
        f"old key signs until {rotation.old_key_signs_until.isoformat()}"
    )


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_lazy
def keys_list(lazy: Lazy, as_json: bool) -> None:
    container = lazy.get()
    with container.db.session() as session:
        published = container.keys.published(session)
    _emit(
        as_json,
        {"keys": published},
        [
            f"{k['kid']}  {k['purpose']:<9}  {k['status']:<8}  {k.get('verifier_key', '')}"
            for k in published
        ],
    )


@main.group()
def receipts() -> None:
    """Signed consent and withdrawal receipts."""


@receipts.command("verify")
@click.argument("receipt", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@KEYS_OPTION
def receipts_verify(receipt: Path, keys_file: Path | None) -> None:
    """Check a receipt's signature offline and print what it says."""
    try:
        claims = verify_receipt(receipt.read_text(), _key_document(keys_file).get("keys", []))
    except ReceiptError as exc:
        raise click.ClickException(f"receipt does not verify: {exc}") from exc
    click.echo(json.dumps(claims, indent=2, sort_keys=True))
    click.echo("receipt verifies", err=True)


@main.group()
def retention() -> None:
    """Scheduled deletion and erasure."""


@retention.command("sweep")
@click.option("--json", "as_json", is_flag=True)
@pass_lazy
def retention_sweep(lazy: Lazy, as_json: bool) -> None:
    """Run one sweep now: erase what is due, certify it, tell the platforms' endpoints."""
    report = _domain(lambda: lazy.get().retention.sweep())
    if not report.ran:
        raise click.ClickException("another process is sweeping; nothing done")
    e, w = report.erased, report.webhooks
    _emit(
        as_json,
        asdict(report),
        [
            f"planned:   {report.planned} erasures",
            f"erased:    {e.erasures} erasures, {e.items} items, {e.objects} vault objects, "
            f"{e.keys_destroyed} worker keys destroyed",
            f"failed:    {e.failed} erasures left pending for retry",
            f"certified: {report.certified} erasures",
            f"requests:  {report.requests_completed} completed",
            f"webhooks:  {w.delivered} delivered, {w.retrying} to retry, {w.failed} failed",
        ],
    )


@retention.command("status")
@tenant_option(required=False, help="only this tenant")
@click.option("--json", "as_json", is_flag=True)
@pass_lazy
def retention_status_command(lazy: Lazy, tenant: str | None, as_json: bool) -> None:
    """What is due, overdue and done. Exits 1 when anything is overdue or failing."""
    from retention.status import retention_status

    container = lazy.get()
    if tenant is not None:
        _known_tenant(container, tenant)
    with container.db.session() as session:
        report = retention_status(session, container.clock.now(), tenant)
    payload = {**asdict(report), "now": report.now.isoformat(), "healthy": report.healthy}
    lines = [f"as of {report.now.isoformat()} (database time)"]
    for group in ("items", "erasures", "requests", "confirmations", "webhooks"):
        counts = getattr(report, group)
        lines.append(f"{group + ':':<15}" + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for title, rows in (
        ("overdue request", report.overdue_requests),
        ("failing erasure", report.failing_erasures),
        ("unconfirmed copies", report.overdue_confirmations),
    ):
        lines += [f"{title}: " + "  ".join(f"{k}={v}" for k, v in row.items()) for row in rows]
    _emit(as_json, payload, lines)
    if not report.healthy:
        sys.exit(1)


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--mode", type=click.Choice(MODES), default="faces", show_default=True)
@click.option("--fill", type=click.Choice(FILLS), default="solid", show_default=True)
@click.option(
    "--audit",
    "audit_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the audit record (JSON) here",
)
def redact(source: Path, output: Path, mode: str, fill: str, audit_file: Path | None) -> None:
    """Redact a local still (JPEG, PNG) or video into OUTPUT (.jpg/.png; .mp4/.mov/.mkv),
    with no server or database."""
    from redaction.media import BadMedia
    from redaction.redactor import Options, redact_path

    try:
        record = redact_path(source, output, Options(mode=mode, fill=fill))
    except BadMedia as exc:
        raise click.ClickException(f"{source}: {exc}") from exc
    if audit_file is not None:
        audit_file.write_text(json.dumps(record, indent=1))
    summary, review = record["summary"], record["review"]
    click.echo(
        f"wrote {output}: {record['frames_total']} frames, "
        + ", ".join(f"{n} {source}" for source, n in summary["boxes"].items())
        + f" boxes in {summary['tracks']} tracks; {summary['frames_flagged']} frames flagged "
        f"for review; {record['timing']['seconds']} s"
    )
    for flag in review[:20]:
        click.echo(f"review frame {flag['frame']}: {flag['reason']}")


@main.group()
def certificates() -> None:
    """Deletion certificates."""


@certificates.command("verify")
@click.argument("certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@KEYS_OPTION
def certificates_verify(certificate: Path, keys_file: Path | None) -> None:
    """Check a deletion certificate offline: its signature, its checkpoint's signature, and
    the tombstone's inclusion proof. Prints what was erased."""
    from verify.certificates import CertificateError, verify_certificate

    document = _key_document(keys_file)
    try:
        claims = verify_certificate(certificate.read_text(), document)
    except CertificateError as exc:
        raise click.ClickException(f"certificate does not verify: {exc}") from exc
    click.echo(json.dumps(claims, indent=2, sort_keys=True))
    click.echo(
        f"certificate verifies: {len(claims['items'])} items erased at {claims['erased_at']}, "
        f"tombstone {claims['tombstone']['index']} in a checkpoint of size "
        f"{claims['checkpoint']['tree_size']}",
        err=True,
    )


@main.group()
def manifests() -> None:
    """Training-set manifests."""


@manifests.command("verify")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@KEYS_OPTION
@click.option("--json", "as_json", is_flag=True, help="print the manifest's claims as JSON")
def manifests_verify(manifest: Path, keys_file: Path | None, as_json: bool) -> None:
    """Check a manifest offline: its signature, its checkpoint's signature, the inclusion
    proof of its log entry, and that the entry records exactly what the manifest lists."""
    from verify.manifests import ManifestError, verify_manifest

    try:
        claims = verify_manifest(manifest.read_text(), _key_document(keys_file))
    except ManifestError as exc:
        raise click.ClickException(f"manifest does not verify: {exc}") from exc
    if as_json:
        click.echo(json.dumps(claims, indent=2, sort_keys=True))
    else:
        click.echo(
            f"manifest {claims['manifest']} verifies: {len(claims['items'])} allowed, "
            f"{len(claims['refused'])} refused, for {claims['purpose']} by "
            f"{claims['recipient']}, issued {claims['issued_at']}; entry "
            f"{claims['entry']['index']} in a checkpoint of size "
            f"{claims['checkpoint']['tree_size']}"
        )


def _key_document(keys_file: Path | None) -> dict[str, Any]:
    if keys_file is not None:
        document: dict[str, Any] = json.loads(keys_file.read_text())
        return document
    container = _lazy().get()
    with container.db.session() as session:
        return {"keys": container.keys.published(session)}


@main.command()
@pass_lazy
def checkpoint(lazy: Lazy) -> None:
    """Sign checkpoints now for every log that grew (at most one per log per second)."""
    from ledger.log.appender import checkpoint_due

    click.echo(f"{checkpoint_due(lazy.get().appender)} logs had grown since their last checkpoint")


@main.command()
@click.argument(
    "bundle", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@tenant_option(required=False, help="only this tenant's log (live database)")
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="published key document to trust instead of the bundle's own keys.json",
)
@click.option(
    "--checkpoint",
    "trusted",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a checkpoint you saw before; the log must be consistent with it",
)
@click.option("--json", "as_json", is_flag=True)
def verify(
    bundle: Path | None,
    tenant: str | None,
    keys_file: Path | None,
    trusted: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Verify every log in the database, or an exported BUNDLE with no database at all.

    Exits 1 and names the first bad entry or checkpoint when anything does not verify."""
    trusted_notes = [path.read_text() for path in trusted]
    try:
        if bundle is not None:
            document = json.loads(keys_file.read_text()) if keys_file else None
            reports = [verify_bundle(bundle, document, trusted_notes)]
        else:
            container = _lazy().get()
            if tenant is not None:
                _known_tenant(container, tenant)
            reports = verify_database(container.db, tenant)
            if tenant is not None and not reports:
                raise no_such_tenant(tenant)
    except VerificationError as exc:
        raise click.ClickException(str(exc)) from exc
    _report(reports, as_json)


def _report(reports: list[LogReport], as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": all(r.ok for r in reports),
                    "logs": [
                        {
                            **{
                                k: v for k, v in asdict(r).items() if k not in ("root", "signed_by")
                            },
                            "root": r.root.hex(),
                            "signed_by": sorted(r.signed_by),
                            "ok": r.ok,
                        }
                        for r in reports
                    ],
                }
            )
        )
    else:
        for report in reports:
            click.echo(report.summary(), err=not report.ok)
    if not all(r.ok for r in reports):
        sys.exit(1)


def _domain(call: Any) -> Any:
    try:
        return call()
    except NotFound as exc:
        if exc.kind == "tenant":
            raise no_such_tenant(exc.ident or "?") from exc
        raise click.ClickException(str(exc)) from exc
    except CustodyError as exc:
        raise click.ClickException(str(exc)) from exc


def moment(_ctx: Any, _param: Any, value: str | None) -> datetime | None:
    """An RFC 3339 / ISO 8601 time option; without an offset it is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a time such as 2026-01-31 or 2026-01-31T12:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@main.group()
def reports() -> None:
    """PDF reports: a worker's report, the audit report. Each is recorded on the log."""


def _issued(issued: Any, out: Path) -> None:
    click.echo(
        f"wrote {out} (report {issued.id}, sha256 {issued.sha256.hex()}, "
        f"log index {issued.log_index})"
    )


@reports.command("worker")
@tenant_option()
@click.option("--worker", required=True, help="pseudonym (wkr_...) or the platform's reference")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_lazy
def worker_report(lazy: Lazy, tenant: str, worker: str, out: Path) -> None:
    """The worker's report: what they agreed to and what was done with their recordings."""
    container = lazy.get()
    _known_tenant(container, tenant)
    _issued(_domain(lambda: container.worker_report.write(tenant, worker, out, None)), out)


def _period_command(group: click.Group, name: str, writer: str, doc: str) -> None:
    """A command writing a tenant's report for a period with the container's `writer`."""

    @group.command(name, help=doc)
    @tenant_option()
    @click.option("--from", "since", callback=moment, help="start (default: the start)")
    @click.option("--to", "until", callback=moment, help="end, exclusive (default: now)")
    @click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
    @pass_lazy
    def command(
        lazy: Lazy, tenant: str, since: datetime | None, until: datetime | None, out: Path
    ) -> None:
        container = lazy.get()
        _known_tenant(container, tenant)
        write = getattr(container, writer).write
        _issued(_domain(lambda: write(tenant, out, since=since, until=until, by=None)), out)


_period_command(reports, "audit", "audit_report", "The audit report of a tenant for a period.")
_period_command(
    main,
    "export",
    "audit_export",
    "Write the audit bundle of a tenant for a period, which `custody verify FILE` checks "
    "with no database: entries with inclusion proofs, checkpoints, keys, projections.",
)
