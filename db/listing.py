"""The schema of `jobs.listing`: the listing and agent facts Rails writes for the cards.

Everything is optional: a job without it gets a video without title or agent card. The
database refuses the shape at INSERT (unknown keys, media URIs outside the artifact store,
colours that are not `#rrggbb`, an unsupported caption language: `ck_jobs_listing_*`); the
rest (lengths, numbers, currency, phone, email) is checked here when a run takes the job in,
which fails it with the field and the rule. Limits are what still fits a card on a phone.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from db.validation import one_line

CAPTION_LANGUAGES = ("en", "es", "fr", "de")  # tasks.timeline.wording has words for these
MEDIA_URI_PATTERN = r"^(s3|file)://"  # what photos.s3_uri accepts (db.models.URI_SCHEMES_SQL)
COLOUR_PATTERN = r"^#[0-9A-Fa-f]{6}$"

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=48)]
MediaUri = Annotated[str, StringConstraints(pattern=MEDIA_URI_PATTERN, max_length=1024)]
Colour = Annotated[str, StringConstraints(pattern=COLOUR_PATTERN)]


class ListingError(ValueError):
    """jobs.listing breaks its schema; the message names the field and the rule."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    amount: float = Field(ge=0, le=1e12)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. USD")

    @field_validator("currency")
    @classmethod
    def _known(cls, value: str) -> str:
        from babel.numbers import list_currencies

        if value not in list_currencies():
            raise ValueError(f"{value} is not an ISO 4217 currency code")
        return value


class Area(_Strict):
    value: float = Field(gt=0, le=1e7)
    unit: Literal["sqft", "m2"]


class Agent(_Strict):
    name: Line | None = None
    brokerage: Line | None = None
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ().\-/]{5,25}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$", max_length=64)
    logo_uri: MediaUri | None = None
    headshot_uri: MediaUri | None = None


class Brand(_Strict):
    primary: Colour | None = None  # card panels
    accent: Colour | None = None  # the rule under a headline, the status tag


class Listing(_Strict):
    address_lines: list[Line] = Field(default_factory=list, max_length=3)
    price: Price | None = None
    beds: int | None = Field(default=None, ge=0, le=99)
    baths: float | None = Field(default=None, ge=0, le=99, multiple_of=0.5)
    area: Area | None = None
    status: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] | None = None
    agent: Agent | None = None
    brand: Brand | None = None
    caption_language: Literal[CAPTION_LANGUAGES] = "en"  # type: ignore[valid-type]

    @property
    def branded(self) -> bool:
        """Whether anything in it identifies the agent (what the MLS cut leaves out)."""
        return bool(self.agent and self.agent.model_dump(exclude_none=True)) or bool(
            self.brand and self.brand.model_dump(exclude_none=True)
        )


def parse_listing(document: Any) -> Listing:
    """jobs.listing (None: nothing given) as a Listing, or ListingError in one line."""
    try:
        return Listing.model_validate(document or {})
    except ValidationError as err:
        raise ListingError(one_line(err, "listing", join=".")) from None


TOP_KEYS = tuple(Listing.model_fields)
AGENT_KEYS = tuple(Agent.model_fields)
BRAND_KEYS = tuple(Brand.model_fields)
