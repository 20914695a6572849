"""Request and response schemas (marshmallow, through APIFlask); unknown fields are refused."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import AwareDateTime, Boolean, Dict, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range
from marshmallow import RAISE

from api.cursors import Paged, PageQuery
from api.portal.i18n import LANGUAGES
from ledger.access.apikeys import ROLES
from ledger.consent.vocabulary import (
    ACTIVITY_TYPES,
    COLLECTION_METHODS,
    DATA_CATEGORIES,
    LOCATION_GRANULARITIES,
    PLATFORM,
    PURPOSES,
    RECIPIENT_KINDS,
)
from ledger.items.decisions import MAX_BATCH
from ledger.items.items import DERIVED_KINDS
from ledger.items.manifests import MAX_NAME as MAX_MANIFEST_NAME
from redaction.fill import FILLS
from redaction.redactor import MODES
from retention.requests import SCOPES, STATUS_FILTERS

B64 = {"format": "byte", "description": "base64 (RFC 4648, standard alphabet, padded)"}
MAX_INDEX = 2**63 - 1  # log indexes and sizes are 64-bit in the database


class Strict(Schema):
    class Meta:
        unknown = RAISE


class EntriesQuery(Strict):
    start = Integer(
        required=True,
        validate=Range(min=0, max=MAX_INDEX),
        metadata={"description": "first index, inclusive"},
    )
    end = Integer(
        required=True,
        validate=Range(min=0, max=MAX_INDEX),
        metadata={"description": "last index, exclusive; at most 1000 entries are returned"},
    )


class Entry(Schema):
    index = Integer()
    leaf_hash = String(metadata=B64)
    entry = String(
        metadata={**B64, "description": "the exact entry bytes that were hashed, base64"}
    )


class EntriesOut(Schema):
    entries = List(Nested(Entry))
    next = Integer(allow_none=True, metadata={"description": "start of the next page, or null"})


class InclusionQuery(Strict):
    index = Integer(required=True, validate=Range(min=0, max=MAX_INDEX))
    tree_size = Integer(required=True, validate=Range(min=1, max=MAX_INDEX))


class InclusionOut(Schema):
    index = Integer()
    tree_size = Integer()
    leaf_hash = String(metadata=B64)
    root_hash = String(metadata=B64)
    proof = List(
        String(metadata=B64), metadata={"description": "RFC 9162 inclusion path, leaf first"}
    )


class ConsistencyQuery(Strict):
    first = Integer(required=True, validate=Range(min=1, max=MAX_INDEX))
    second = Integer(required=True, validate=Range(min=1, max=MAX_INDEX))


class ConsistencyOut(Schema):
    first = Integer()
    second = Integer()
    first_root = String(metadata=B64)
    second_root = String(metadata=B64)
    proof = List(String(metadata=B64), metadata={"description": "RFC 9162 consistency proof"})


class LogHead(Schema):
    log = String()
    origin = String()
    tree_size = Integer()
    root_hash = String(metadata=B64)
    checkpoint = String(allow_none=True, metadata={"description": "latest signed checkpoint note"})


class CheckpointsQuery(Strict):
    after = Integer(
        load_default=-1,
        validate=Range(min=-1, max=MAX_INDEX),
        metadata={"description": "a tree size: `next` of the previous page; omit for the first"},
    )
    limit = Integer(load_default=100, validate=Range(min=1, max=1000))


class CheckpointOut(Schema):
    tree_size = Integer()
    root_hash = String(metadata=B64)
    created_at = String()
    note = String()


class CheckpointsOut(Schema):
    checkpoints = List(Nested(CheckpointOut))
    next = Integer(allow_none=True, metadata={"description": "`after` for the next page, or null"})


class ApiKeyIn(Strict):
    role = String(required=True, validate=OneOf(ROLES))


class ApiKeyOut(Schema):
    id = String()
    role = String()
    created_at = String()
    revoked_at = String(allow_none=True)
    api_key = String(metadata={"description": "the key itself; shown once, on creation"})


class ApiKeyList(Paged):
    keys = List(Nested(ApiKeyOut))


class VerificationOut(Schema):
    log = String()
    ok = Boolean()
    entries = Integer()
    checkpoints = Integer()
    root_hash = String(metadata=B64)
    signed_by = List(String(), metadata={"description": "key names whose signatures verified"})
    error = String(allow_none=True, metadata={"description": "the first problem found"})
    bad_index = Integer(allow_none=True, metadata={"description": "the entry it concerns"})


class ConsentIn(Strict):
    worker = String(
        required=True,
        validate=Length(1, 200),
        metadata={"description": "the platform's reference for the worker; kept off the log"},
    )
    purposes = List(String(validate=OneOf(PURPOSES)), required=True, validate=Length(min=1))
    data_categories = List(
        String(validate=OneOf(DATA_CATEGORIES)), required=True, validate=Length(min=1)
    )
    recipients = String(required=True, validate=OneOf(RECIPIENT_KINDS))
    parties = List(
        String(),
        load_default=list,
        metadata={"description": "with named_third_parties: slugs of the parties"},
    )
    retention = String(
        required=True,
        metadata={
            "description": "ISO 8601 duration from capture (P30D, PT45S), until:YYYY-MM-DD, or until_project_end"
        },
    )
    jurisdiction = String(required=True, metadata={"description": "ISO 3166-1 alpha-2"})
    collection_method = String(required=True, validate=OneOf(COLLECTION_METHODS))
    policy_url = String(required=True, validate=Length(1, 500))
    policy_version = String(required=True, validate=Length(1, 40))
    bystanders_may_appear = Boolean(load_default=False)
    bystanders_consented = Boolean(load_default=False)
    minors_may_appear = Boolean(load_default=False)
    minors_guardian_consent = Boolean(load_default=False)
    worker_is_minor = Boolean(load_default=False)
    guardian = String(
        load_default=None,
        allow_none=True,
        validate=Length(1, 200),
        metadata={"description": "the guardian's reference, when worker_is_minor"},
    )
    amends = String(
        load_default=None,
        allow_none=True,
        metadata={"description": "id of the consent this one replaces"},
    )


class ConsentEventOut(Schema):
    id = String()
    kind = String()
    purposes = List(String())
    at = String()
    log_index = Integer()
    receipt = String(allow_none=True)


class ConsentOut(Schema):
    id = String()
    worker = String(metadata={"description": "the worker's pseudonym on the log"})
    status = String(metadata={"description": "active, withdrawn or superseded"})
    purposes_in_force = List(String())
    withdrawn_purposes = List(String())
    given_at = String()
    log_index = Integer()
    receipt = String(
        metadata={
            "description": "compact JWS (alg EdDSA) over the canonical receipt; verify with /.well-known/custody-keys"
        }
    )
    events = List(Nested(ConsentEventOut))


class WithdrawIn(Strict):
    purposes = List(
        String(validate=OneOf(PURPOSES)),
        load_default=None,
        validate=Length(min=1),
        metadata={"description": "omit to withdraw everything"},
    )


class WithdrawalOut(Schema):
    id = String()
    consent = String()
    purposes = List(String(), metadata={"description": "withdrawn by this call"})
    status = String()
    purposes_in_force = List(String())
    log_index = Integer()
    receipt = String(metadata={"description": "signed withdrawal receipt (compact JWS)"})


_SHA256 = {"description": "SHA-256 of the content, 64 hex characters"}


class ClipIn(Strict):
    sha256 = String(required=True, metadata=_SHA256)
    worker = String(required=True, validate=Length(1, 200))
    consent = String(required=True, validate=Length(1, 40))
    data_categories = List(
        String(validate=OneOf(DATA_CATEGORIES)), required=True, validate=Length(min=1)
    )
    captured_at = AwareDateTime(required=True, metadata={"description": "RFC 3339 with offset"})
    duration_ms = Integer(load_default=None, allow_none=True)
    device = String(
        load_default=None, allow_none=True, metadata={"description": "model or class, e.g. pixel-7"}
    )
    location_granularity = String(
        load_default="none",
        validate=OneOf(LOCATION_GRANULARITIES),
        metadata={"description": "never raw GPS"},
    )
    location = String(
        load_default=None,
        allow_none=True,
        metadata={"description": "a place name at the stated granularity, e.g. Lagos"},
    )


class ActivityIn(Strict):
    type = String(required=True, validate=OneOf(ACTIVITY_TYPES))
    agent = String(
        required=True, metadata={"description": "the platform's id of the labeler or tool"}
    )
    started_at = AwareDateTime(load_default=None, allow_none=True)
    ended_at = AwareDateTime(load_default=None, allow_none=True)


class DerivationIn(Strict):
    parents = List(String(validate=Length(1, 80)), required=True, validate=Length(min=1))
    kind = String(required=True, validate=OneOf(DERIVED_KINDS))
    sha256 = String(required=True, metadata=_SHA256)
    activity = Nested(ActivityIn, required=True)
    data_categories = List(
        String(validate=OneOf(DATA_CATEGORIES)),
        load_default=None,
        metadata={"description": "defaults to every category of the parents; may be fewer"},
    )


class ItemOut(Schema):
    id = String()
    kind = String()
    status = String()
    sha256 = String(allow_none=True)
    worker = String(allow_none=True, metadata={"description": "pseudonym; clips only"})
    consent = String(allow_none=True)
    data_categories = List(String())
    delete_after = String(allow_none=True)
    created_at = String()
    log_index = Integer()
    content_stored = Boolean()
    content_size = Integer(allow_none=True)
    created = Boolean(metadata={"description": "false when this content was registered before"})


class LineageEdge(Schema):
    entity = String(metadata={"description": "the derived item"})
    was_derived_from = String(metadata={"description": "its parent (PROV wasDerivedFrom)"})


class LineageOut(Schema):
    item = String()
    nodes = List(Nested(ItemOut))
    edges = List(Nested(LineageEdge))


class CheckIn(Strict):
    item = String(
        required=True,
        validate=Length(1, 80),
        metadata={"description": "an item id, or the content's SHA-256 (64 hex)"},
    )
    purpose = String(required=True, validate=OneOf(PURPOSES))
    recipient = String(
        load_default=PLATFORM,
        validate=Length(1, 64),
        metadata={"description": "`platform`, or the slug of a named third party"},
    )


class BatchCheckIn(Strict):
    items = List(String(validate=Length(1, 80)), required=True, validate=Length(1, MAX_BATCH))
    purpose = String(required=True, validate=OneOf(PURPOSES))
    recipient = String(load_default=PLATFORM, validate=Length(1, 64))


class CheckOut(Schema):
    item = String(allow_none=True, metadata={"description": "the item id, null when unknown"})
    asked = String(metadata={"description": "the id or hash as asked"})
    decision = String(metadata={"description": "allow or deny"})
    reasons = List(String(), metadata={"description": "why not; empty when allowed"})
    consents = List(String(), metadata={"description": "the consents in force it weighed"})
    log_index = Integer(metadata={"description": "the log entry holding the decision"})


class BatchCheckOut(Schema):
    log_index = Integer(metadata={"description": "the one entry holding every decision"})
    allowed = Integer()
    denied = Integer()
    results = List(Nested(CheckOut))


class UsesQuery(PageQuery):
    """A worker's uses, a page at a time."""


class UseOut(Schema):
    item = String()
    kind = String()
    purpose = String()
    recipient = String()
    at = String()
    log_index = Integer()


class UsesOut(Paged):
    worker = String(metadata={"description": "the worker's pseudonym"})
    uses = List(Nested(UseOut))


class PolicyIn(Strict):
    version = String(required=True, validate=Length(1, 40))
    url = String(required=True, validate=Length(1, 500))
    purposes = List(String(validate=OneOf(PURPOSES)), required=True, validate=Length(min=1))


class PolicyOut(Schema):
    version = String()
    url = String()
    purposes = List(String())
    published_at = String()
    log_index = Integer()


class PolicyList(Paged):
    policies = List(Nested(PolicyOut))


class ContentQuery(Strict):
    purpose = String(required=True, validate=OneOf(PURPOSES))
    recipient = String(load_default=PLATFORM, validate=Length(1, 64))


class ErasureRequestIn(Strict):
    worker = String(
        load_default=None,
        validate=Length(1, 200),
        metadata={
            "description": "the platform's reference for the worker, or the pseudonym; "
            "required with an API key, implied by a worker token"
        },
    )
    scope = String(
        load_default=None,
        validate=OneOf(SCOPES),
        metadata={"description": '"all"; or leave out and name a consent or an item'},
    )
    consent = String(load_default=None, validate=Length(1, 40))
    item = String(load_default=None, validate=Length(1, 40))


class ConsentList(Paged):
    worker = String(metadata={"description": "the worker's pseudonym"})
    consents = List(Nested(ConsentOut))


class AccessLinkIn(Strict):
    expires_in = Integer(
        load_default=900,
        validate=Range(60, 86400),
        metadata={"description": "seconds the link stays usable, 60 to 86400; 900 by default"},
    )
    language = String(
        load_default=None,
        validate=OneOf(list(LANGUAGES)),
        metadata={"description": "the portal's language when the worker opens the link"},
    )


class AccessLinkOut(Schema):
    id = String()
    url = String(metadata={"description": "show or send this to the worker; it works once"})
    expires_at = String()


class WorkerSessionIn(Strict):
    link = String(
        required=True,
        validate=Length(1, 200),
        metadata={"description": "the `link` parameter of an access link's URL"},
    )


class WorkerSessionOut(Schema):
    token = String(metadata={"description": "send as `Authorization: Bearer cwk_...`"})
    worker = String(metadata={"description": "the worker's pseudonym"})
    expires_at = String()


class ErasedItemOut(Schema):
    id = String()
    kind = String()
    sha256 = String(metadata={"description": "the content hash the certificate names"})


class CopiesOut(Schema):
    confirm_by = String(allow_none=True)
    confirmed_at = String(allow_none=True)
    overdue = Boolean()


class ErasureOut(Schema):
    id = String()
    status = String(metadata={"description": "pending, then done"})
    reason = String(
        metadata={"description": "retention_ended, consent_withdrawn, erasure_requested"}
    )
    request = String(allow_none=True)
    worker = String(allow_none=True)
    items = List(Nested(ErasedItemOut))
    planned_at = String()
    deadline = String()
    overdue = Boolean()
    attempts = Integer()
    last_error = String(allow_none=True)
    erased_at = String(allow_none=True)
    log_index = Integer(allow_none=True, metadata={"description": "the tombstone entry"})
    key_destroyed = Boolean(allow_none=True)
    certificate = String(allow_none=True, metadata={"description": "where the certificate is"})
    copies = Nested(CopiesOut)


class CausedErasureOut(ErasureOut):
    """An erasure as listed in its request (its own name in the spec)."""


class ErasureRequestOut(Schema):
    id = String()
    status = String(metadata={"description": "in_progress, then completed"})
    worker = String()
    scope = String()
    consent = String(allow_none=True)
    item = String(allow_none=True)
    received_at = String()
    deadline = String()
    overdue = Boolean()
    completed_at = String(allow_none=True)
    log_index = Integer()
    erasures = List(Nested(CausedErasureOut))


class ErasureRequestsQuery(PageQuery):
    status = String(load_default=None, validate=OneOf(STATUS_FILTERS))


class ErasureRequestList(Paged):
    requests = List(Nested(ErasureRequestOut))


class WebhookEndpointIn(Strict):
    url = String(required=True, validate=Length(1, 500))


class WebhookEndpointOut(Schema):
    id = String()
    url = String()
    created_at = String()
    secret = String(metadata={"description": "whsec_...: shown once, when created"})


class WebhookEndpointList(Paged):
    endpoints = List(Nested(WebhookEndpointOut))


class RedactionIn(Strict):
    item = String(required=True, validate=Length(1, 80), metadata={"description": "a clip id"})
    mode = String(
        load_default="faces",
        validate=OneOf(MODES),
        metadata={"description": "faces; or background: the room removed too, the person kept"},
    )
    fill = String(
        load_default="solid",
        validate=OneOf(FILLS),
        metadata={"description": "solid (the default), or coarse pixelation blurred over"},
    )


class RedactionOut(Schema):
    id = String()
    item = String(metadata={"description": "the clip redacted"})
    mode = String()
    fill = String()
    reason = String(metadata={"description": "requested, or consent_requires"})
    status = String(metadata={"description": "queued, running, done or failed"})
    requested_at = String()
    finished_at = String(allow_none=True)
    attempts = Integer()
    output = String(allow_none=True, metadata={"description": "the redacted copy's item id"})
    audit_sha256 = String(
        allow_none=True, metadata={"description": "SHA-256 of the audit record (RFC 8785 JSON)"}
    )
    summary = Dict(allow_none=True, metadata={"description": "frames, boxes, review, timing"})
    error = String(allow_none=True, metadata={"description": "why it failed"})
    log_index = Integer()


class ReportPeriodQuery(Strict):
    since = AwareDateTime(
        data_key="from",
        load_default=None,
        metadata={"description": "start of the period, RFC 3339 with offset (default: the start)"},
    )
    until = AwareDateTime(
        data_key="to",
        load_default=None,
        metadata={"description": "end of the period, exclusive (default: now)"},
    )


class ReportOut(Schema):
    id = String()
    kind = String()
    worker = String(allow_none=True)
    period_from = String(data_key="from", allow_none=True)
    period_to = String(data_key="to", allow_none=True)
    tree_size = Integer(metadata={"description": "size of the signed checkpoint it rests on"})
    sha256 = String()
    size = Integer()
    issued_at = String()
    log_index = Integer(metadata={"description": "the `report.issued` entry"})


class ManifestIn(Strict):
    items = List(
        String(validate=Length(1, 80)),
        required=True,
        validate=Length(1, MAX_BATCH),
        metadata={"description": "item ids (clp_..., itm_...) or 64-hex SHA-256 content hashes"},
    )
    purpose = String(required=True, validate=OneOf(PURPOSES))
    recipient = String(load_default=PLATFORM, validate=Length(1, 64))
    name = String(
        load_default=None,
        validate=Length(1, MAX_MANIFEST_NAME),
        metadata={"description": "the training run's label; kept off the log"},
    )


class ManifestConsentOut(Schema):
    id = String()
    receipt_sha256 = String(metadata={"description": "SHA-256 of the compact JWS receipt, hex"})


class ManifestItemOut(Schema):
    item = String()
    sha256 = String(
        allow_none=True,
        metadata={"description": "the content's SHA-256, hex; null once the item was erased"},
    )
    consents = List(Nested(ManifestConsentOut), metadata={"description": "consents in force"})


class ManifestRefusedOut(Schema):
    asked = String()
    item = String(allow_none=True)
    reasons = List(String())


class ManifestCheckpointOut(Schema):
    tree_size = Integer()
    root_hash = String(metadata={"description": "base64"})
    note = String(metadata={"description": "the C2SP signed note"})


class ManifestSummaryOut(Schema):
    id = String()
    name = String(allow_none=True)
    purpose = String()
    recipient = String()
    issued_at = String()
    log_index = Integer()
    allowed = Integer()
    refused = Integer()
    tainted_since = String(
        allow_none=True, metadata={"description": "when the first item was noticed affected"}
    )


class ManifestList(Paged):
    manifests = List(Nested(ManifestSummaryOut))


class ManifestOut(ManifestSummaryOut):
    items = List(Nested(ManifestItemOut))
    refused_items = List(Nested(ManifestRefusedOut))
    erased_items = List(
        String(), metadata={"description": "items erased since: their hashes are forgotten"}
    )
    checkpoint = Nested(ManifestCheckpointOut, allow_none=True)
    manifest = String(
        allow_none=True,
        metadata={
            "description": "the signed manifest (compact JWS); null until a signed "
            "checkpoint covers its entry (a second or two), and once items of it were "
            "erased, since it holds their content hashes (the copy given out still verifies)"
        },
    )


class AffectedOut(Schema):
    item = String()
    state = String(metadata={"description": "withdrawn, erased, expired or no_longer_covered"})
    since = String(allow_none=True)
    reasons = List(String())


class ManifestStatusOut(Schema):
    id = String()
    checked_at = String()
    items = Integer(metadata={"description": "items the manifest allowed"})
    tainted = Boolean()
    tainted_since = String(allow_none=True)
    affected = List(Nested(AffectedOut))


class PublicKeyOut(Schema):
    kid = String()
    purpose = String(metadata={"description": "log (checkpoints) or statement (receipts...)"})
    kty = String(metadata={"description": "OKP"})
    crv = String(metadata={"description": "Ed25519"})
    alg = String(metadata={"description": "EdDSA"})
    x = String(metadata={"description": "the public key, base64url (RFC 7517)"})
    status = String(metadata={"description": "active, retiring or retired"})
    valid_from = String()
    valid_until = String(allow_none=True, metadata={"description": "null while active"})
    verifier_key = String(metadata={"description": "log keys: the C2SP signed-note verifier key"})


class PublicKeysOut(Schema):
    origin = String()
    keys = List(Nested(PublicKeyOut))


_COUNTS = {"description": "counts by state"}


class RetentionStatusOut(Schema):
    now = String()
    healthy = Boolean(metadata={"description": "nothing overdue and nothing failing"})
    items = Dict(keys=String(), values=Integer(), metadata=_COUNTS)
    erasures = Dict(keys=String(), values=Integer(), metadata=_COUNTS)
    requests = Dict(keys=String(), values=Integer(), metadata=_COUNTS)
    confirmations = Dict(keys=String(), values=Integer(), metadata=_COUNTS)
    webhooks = Dict(keys=String(), values=Integer(), metadata=_COUNTS)
    overdue_requests = List(Dict())
    failing_erasures = List(Dict())
    overdue_confirmations = List(Dict())
