"""The business events the events API accepts, and their validation (pure: no I/O).

Shapes (DESIGN §3); fields beyond these are kept::

    {"id": "evt_1", "type": "customer.upserted", "customer": {"id": "cus_1",
     "phone": "+14155550100", "whatsapp": "+14155550100", "locale": "es",
     "timezone": "America/New_York", "plan": "pro", "status": "active", "currency": "USD",
     "current_period_end": "…", "trial_ends_at": "…", "engaged": true,
     "consent": {"sms": true, "whatsapp": true, "source": "checkout", "at": "…"},
     "billing_contact": {"phone": "+14155550199"}}}
    {"id": "evt_2", "type": "payment.failed", "customer_id": "cus_1",
     "invoice": {"id": "in_1", "amount": "19.00", "currency": "USD", "hosted_url": null}}
    {"id": "evt_3", "type": "payment.succeeded", "customer_id": "cus_1", "invoice_id": "in_1"}
    {"id": "evt_4", "type": "subscription.updated", "customer_id": "cus_1",
     "subscription": {"plan": "pro", "status": "paused", "paused_until": "…", "cancel_at": "…",
                      "current_period_end": "…", "trial_ends_at": "…", "engaged": false}}
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from babel.numbers import is_currency
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from bot.addresses import normalize_e164
from bot.config import FieldProblem
from bot.i18n import parse_locale
from bot.local_dates import zone_named


class EventInvalid(ValueError):
    """The event cannot be accepted; ``problems`` says which field and why."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field or 'event'}: {p.reason}" for p in problems))
        self.problems = problems


def _locale(value: str) -> str:
    return str(parse_locale(value))


def _timezone(value: str) -> str:
    if zone_named(value) is None:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like America/New_York)")
    return value


def _currency(value: str) -> str:
    if not is_currency(value.upper()):
        raise ValueError(f"unknown currency {value!r} (use an ISO 4217 code like USD)")
    return value.upper()


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("may not be null (leave the field out to keep it as it is)")
    return value


def _web_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


E164 = Annotated[str, AfterValidator(normalize_e164)]
LocaleTag = Annotated[str, AfterValidator(_locale)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Currency = Annotated[str, AfterValidator(_currency)]
WebUrl = Annotated[str, Field(max_length=2000), AfterValidator(_web_url)]
Id = Annotated[str, Field(min_length=1, max_length=128)]
SubscriptionStatus = Annotated[
    Literal["active", "trialing", "past_due", "paused", "canceled"] | None,
    BeforeValidator(_not_null)]
"""A subscription always has a status: optional in an event, but never null."""


class _Open(BaseModel):
    """Extra fields are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Consent(_Open):
    """Consent given at checkout, per channel."""

    sms: bool | None = None
    whatsapp: bool | None = None
    source: Annotated[str, Field(pattern=r"^[a-z_]{1,16}$")] = "checkout"
    at: AwareDatetime | None = None


class BillingContact(_Open):
    """Someone else who pays: they get the dunning, the subscriber one courtesy notice."""

    phone: E164 | None = None
    whatsapp: E164 | None = None


class CustomerData(_Open):
    id: Id
    phone: E164 | None = None
    whatsapp: E164 | None = None
    locale: LocaleTag | None = None
    timezone: TimeZone | None = None
    plan: Annotated[str, Field(max_length=64)] | None = None
    status: SubscriptionStatus = None
    currency: Currency | None = None
    current_period_end: AwareDatetime | None = None
    trial_ends_at: AwareDatetime | None = None
    engaged: bool | None = None
    consent: Consent | None = None
    billing_contact: BillingContact | None = None


class InvoiceData(_Open):
    id: Id
    amount: Annotated[Decimal, Field(gt=0, max_digits=14)]
    currency: Currency
    hosted_url: WebUrl | None = None


class SubscriptionData(_Open):
    plan: Annotated[str, Field(max_length=64)] | None = None
    status: SubscriptionStatus = None
    currency: Currency | None = None
    current_period_end: AwareDatetime | None = None
    trial_ends_at: AwareDatetime | None = None
    paused_until: AwareDatetime | None = None
    cancel_at: AwareDatetime | None = None
    engaged: bool | None = None


class _Event(_Open):
    id: Annotated[str, Field(min_length=1, max_length=200)]


class CustomerUpserted(_Event):
    type: Literal["customer.upserted"]
    customer: CustomerData

    @property
    def customer_id(self) -> str:
        return self.customer.id


class PaymentFailed(_Event):
    type: Literal["payment.failed"]
    customer_id: Id
    invoice: InvoiceData


class PaymentSucceeded(_Event):
    type: Literal["payment.succeeded"]
    customer_id: Id
    invoice: dict[str, Any] | None = None
    invoice_id: Annotated[str | None, Field(validate_default=True, max_length=128)] = None
    """The invoice paid (``invoice.id`` is read when this is absent)."""

    @field_validator("invoice_id")
    @classmethod
    def _names_the_invoice(cls, value: str | None, info: ValidationInfo) -> str:
        if value is None:
            value = (info.data.get("invoice") or {}).get("id")
        if not isinstance(value, str) or not value:
            raise ValueError("Field required (give invoice_id, or invoice.id)")
        return value


class SubscriptionUpdated(_Event):
    type: Literal["subscription.updated"]
    customer_id: Id
    subscription: SubscriptionData


Event = CustomerUpserted | PaymentFailed | PaymentSucceeded | SubscriptionUpdated
EVENT_TYPES: dict[str, type[_Event]] = {
    "customer.upserted": CustomerUpserted, "payment.failed": PaymentFailed,
    "payment.succeeded": PaymentSucceeded, "subscription.updated": SubscriptionUpdated,
}


def _reason(message: str) -> str:
    return message.removeprefix("Value error, ")


def parse_event(data: Any) -> Event:
    """The event ``data`` (parsed JSON) describes; EventInvalid with every problem otherwise."""
    if not isinstance(data, dict):
        raise EventInvalid([FieldProblem("", "expected a JSON object")])
    kind = data.get("type")
    model = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(EVENT_TYPES)
        problems = [FieldProblem("type", f"unknown event type {kind!r} (known: {known})")]
        if not isinstance(data.get("id"), str) or not data.get("id"):
            problems.insert(0, FieldProblem("id", "Field required"))
        raise EventInvalid(problems)
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as error:
        raise EventInvalid([
            FieldProblem(".".join(str(part) for part in issue["loc"]), _reason(issue["msg"]))
            for issue in error.errors()]) from None
