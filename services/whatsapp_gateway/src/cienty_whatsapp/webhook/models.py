"""Meta's webhook envelope for the WhatsApp Business Account `messages` field, as pydantic models.

Strict where the gateway depends on a field (a message's `id`, sender, `timestamp` and `type`;
a status's `id`, `status`, recipient and `timestamp`; the sub-object of the types whose content
is read: text, interactive, button and media); lenient everywhere else (`extra="allow"`), since
Meta adds fields often (BSUIDs, usernames, identity hashes, pricing...). Any other message
`type`, present or future, validates and is kept: the gateway must never answer 500, nor 400,
to a message merely because it is new to us.

Reference pages (checked 2026-11; `<BASE>` is
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference):

- envelope, text and the list of payload structures: <BASE>/messages
- how batches, retries and signatures work:
  https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/overview
  and .../whatsapp/webhooks/create-webhook-endpoint
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

WHATSAPP_OBJECT = "whatsapp_business_account"

# Message types whose sub-object the gateway reads: a message of one of these types without its
# sub-object is not a message we can handle, so the payload does not validate.
MEDIA_TYPES = frozenset({"image", "document", "audio", "video", "sticker"})
READ_TYPES = frozenset({"text", "interactive", "button"} | MEDIA_TYPES)
# Every type Meta documents for inbound messages (the rest is counted as "other" in metrics).
KNOWN_TYPES = READ_TYPES | frozenset(
    {"location", "contacts", "reaction", "order", "system", "unsupported", "request_welcome"}
)


class _Lenient(BaseModel):
    """Meta adds fields without notice: keep them, never fail on them."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


# --- errors ------------------------------------------------------------------------------------


class ErrorData(_Lenient):
    details: str = ""


class ErrorInfo(_Lenient):
    """An error object, in a failed status, an unsupported message or `value.errors`.
    Build handling on `code` (and `error_data.details`), not on titles.
    Source: https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
    and <BASE>/messages/status."""

    code: int
    title: str = ""
    message: str = ""
    error_data: ErrorData | None = None
    href: str = ""


# --- who ---------------------------------------------------------------------------------------


class Profile(_Lenient):
    name: str = ""
    # Only for users who adopted a WhatsApp username (2026).
    username: str = ""


class Contact(_Lenient):
    """`value.contacts[]`: the sender of the messages in this change. `wa_id` may be absent for
    a user who adopted a username; `user_id` is the business-scoped user ID (BSUID).
    Sources: <BASE>/messages and
    https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids
    """

    profile: Profile | None = None
    wa_id: str = ""
    user_id: str = ""


class Metadata(_Lenient):
    """The business phone number the change is about. Source: <BASE>/messages."""

    phone_number_id: str = Field(min_length=1)
    display_phone_number: str = ""


# --- message sub-objects -----------------------------------------------------------------------


class Text(_Lenient):
    """`type: text`. Source: <BASE>/messages (its text example)."""

    body: str


class Reply(_Lenient):
    """The tapped button or list row of an interactive message we sent: `id` is the id we gave it.
    Source: <BASE>/messages/interactive."""

    id: str = Field(min_length=1)
    title: str = ""
    description: str = ""


class Interactive(_Lenient):
    """`type: interactive`: `button_reply` or `list_reply` (also `nfm_reply` from Flows, kept raw).
    Source: <BASE>/messages/interactive."""

    type: str = Field(min_length=1)
    button_reply: Reply | None = None
    list_reply: Reply | None = None

    @model_validator(mode="after")
    def _reply_present(self) -> Interactive:
        if self.type in ("button_reply", "list_reply") and getattr(self, self.type) is None:
            raise ValueError(f"an interactive {self.type} without its {self.type} object")
        return self

    @property
    def reply(self) -> Reply | None:
        return self.button_reply or self.list_reply


class Button(_Lenient):
    """`type: button`: a quick-reply button of a *template* message; `payload` is the one set when
    the template was sent (Meta's example repeats the label). Source: <BASE>/messages/button."""

    text: str
    payload: str = ""


class Media(_Lenient):
    """`type: image|document|audio|video|sticker`. `id` is the media id (valid 7 days) the worker
    fetches with; `url` is being rolled out since 2025-11 and expires in minutes. Audio carries
    `voice`, stickers `animated`, documents `filename`.
    Sources: <BASE>/messages/image, <BASE>/messages/document, <BASE>/messages/audio,
    <BASE>/messages/video, <BASE>/messages/sticker, and
    https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media
    """

    id: str = Field(min_length=1)
    mime_type: str = ""
    sha256: str = ""
    caption: str = ""
    filename: str = ""
    url: str | None = None
    voice: bool | None = None
    animated: bool | None = None


class Location(_Lenient):
    """`type: location`. Source: <BASE>/messages/location."""

    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    address: str | None = None
    url: str | None = None


class SharedContact(_Lenient):
    """One card of `type: contacts` (`name`, `phones`, `emails`, `addresses`, `org`, `urls`,
    `birthday`; many may be omitted). Source: <BASE>/messages/contacts."""

    name: dict[str, Any] | None = None
    phones: list[dict[str, Any]] = Field(default_factory=list)


class Reaction(_Lenient):
    """`type: reaction`: `emoji` is omitted when the user removes a reaction.
    Source: <BASE>/messages/reaction."""

    message_id: str = ""
    emoji: str | None = None


class OrderItem(_Lenient):
    product_retailer_id: str = ""
    quantity: int | None = None
    item_price: float | None = None
    currency: str = ""


class Order(_Lenient):
    """`type: order`: a cart sent from our catalog. Source: <BASE>/messages/order."""

    catalog_id: str = ""
    text: str | None = None
    product_items: list[OrderItem] = Field(default_factory=list)


class System(_Lenient):
    """`type: system`: `user_changed_number` (with `wa_id`, the new number) or
    `user_changed_user_id` (a new BSUID). No `contacts` array comes with it.
    Source: <BASE>/messages/system."""

    type: str = ""
    body: str = ""
    wa_id: str | None = None


class Unsupported(_Lenient):
    """`type: unsupported` (error 131051 in the message's `errors`); `unsupported.type` names
    what it was (poll, edit...). Source: <BASE>/messages/unsupported."""

    type: str = ""


# --- message and status ------------------------------------------------------------------------


class Message(_Lenient):
    """`value.messages[]`: one message from a WhatsApp user.

    `from` is the user's phone number; a user who adopted a username may have only
    `from_user_id` (the BSUID), so one of the two is required. `timestamp` is Unix seconds,
    sent as a string. `context` (replies, forwards, product questions) and `referral`
    (click-to-WhatsApp ads) are kept as Meta sent them.
    Sources: <BASE>/messages and one page per type (see the sub-object models).
    """

    id: str = Field(min_length=1)
    from_: str | None = Field(default=None, alias="from", min_length=1)
    from_user_id: str | None = Field(default=None, min_length=1)
    timestamp: int = Field(ge=0)
    type: str = Field(min_length=1)
    context: dict[str, Any] | None = None
    referral: dict[str, Any] | None = None
    errors: list[ErrorInfo] = Field(default_factory=list)

    text: Text | None = None
    interactive: Interactive | None = None
    button: Button | None = None
    image: Media | None = None
    document: Media | None = None
    audio: Media | None = None
    video: Media | None = None
    sticker: Media | None = None
    location: Location | None = None
    contacts: list[SharedContact] | None = None
    reaction: Reaction | None = None
    order: Order | None = None
    system: System | None = None
    unsupported: Unsupported | None = None

    @model_validator(mode="after")
    def _sender_and_content(self) -> Message:
        if self.from_ is None and self.from_user_id is None:
            raise ValueError("a message without a sender (`from` or `from_user_id`)")
        if self.type in READ_TYPES and getattr(self, self.type) is None:
            raise ValueError(f"a {self.type} message without its {self.type} object")
        return self

    @property
    def sender(self) -> str:
        """The chat: the phone number, else the BSUID."""
        return self.from_ or self.from_user_id or ""

    @property
    def media(self) -> Media | None:
        if self.type in MEDIA_TYPES:
            media: Media | None = getattr(self, self.type)
            return media
        return None


class Status(_Lenient):
    """`value.statuses[]`: a status of a message we sent (`sent`, `delivered`, `read`, `failed`,
    `played` for voice messages; kept whatever it is). `id` is our message's wamid; `failed`
    comes with `errors`. `recipient_id` may be absent for a username user, with
    `recipient_user_id` (BSUID) instead. `conversation`, `pricing` and
    `biz_opaque_callback_data` are kept. Source: <BASE>/messages/status."""

    id: str = Field(min_length=1)
    status: str = Field(min_length=1)
    timestamp: int = Field(ge=0)
    recipient_id: str | None = Field(default=None, min_length=1)
    recipient_user_id: str | None = Field(default=None, min_length=1)
    errors: list[ErrorInfo] = Field(default_factory=list)
    biz_opaque_callback_data: str | None = None
    conversation: dict[str, Any] | None = None
    pricing: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _recipient(self) -> Status:
        if self.recipient_id is None and self.recipient_user_id is None:
            raise ValueError("a status without a recipient (`recipient_id`/`recipient_user_id`)")
        return self

    @property
    def recipient(self) -> str:
        return self.recipient_id or self.recipient_user_id or ""


class MessagesValue(_Lenient):
    """`changes[].value` when `field` is `messages`: inbound `messages`, `statuses` of ours, and
    webhook-level `errors` (e.g. 131052 media too large), each list possibly absent.
    Source: <BASE>/messages."""

    messaging_product: str = "whatsapp"
    metadata: Metadata
    contacts: list[Contact] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    statuses: list[Status] = Field(default_factory=list)
    errors: list[ErrorInfo] = Field(default_factory=list)


# --- envelope ----------------------------------------------------------------------------------


class MessagesChange(_Lenient):
    field: Literal["messages"]
    value: MessagesValue


class OtherChange(_Lenient):
    """Any other subscribed field (`account_update`, `message_template_status_update`...): not
    the gateway's business here; acknowledged and counted."""

    field: str
    value: Any = None


def _change_kind(change: Any) -> str:
    field = change.get("field") if isinstance(change, dict) else getattr(change, "field", None)
    return "messages" if field == "messages" else "other"


Change = Annotated[
    Annotated[MessagesChange, Tag("messages")] | Annotated[OtherChange, Tag("other")],
    Discriminator(_change_kind),
]


class Entry(_Lenient):
    """`entry[]`: one WhatsApp Business Account (`id`) and its changes. Source: <BASE>/messages."""

    id: str
    changes: list[Change]


class Envelope(_Lenient):
    """The whole POST body. Meta aggregates up to 1000 updates in one POST, over any number of
    entries, changes, messages and statuses. Source: <BASE>/messages and
    https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/create-webhook-endpoint
    """

    object: str
    entry: list[Entry]
