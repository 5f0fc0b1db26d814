"""The words on the cards, in the listing's caption language: room names, the facts line, the
price in the language's own number format (Babel's CLDR data), the disclosure line.

db.listing.CAPTION_LANGUAGES lists the languages here; a test keeps every table complete.
"""

from __future__ import annotations

from babel import Locale
from babel.numbers import format_decimal, parse_pattern

from db.enums import RoomType
from db.listing import Listing

ROOM_NAMES: dict[str, dict[RoomType, str]] = {
    "en": {
        RoomType.front_exterior: "Front", RoomType.backyard: "Backyard", RoomType.aerial: "Aerial view",
        RoomType.pool: "Pool", RoomType.living_room: "Living room", RoomType.kitchen: "Kitchen",
        RoomType.dining_room: "Dining room", RoomType.bedroom: "Bedroom", RoomType.bathroom: "Bathroom",
        RoomType.office: "Office", RoomType.laundry: "Laundry", RoomType.garage: "Garage", RoomType.hallway: "Hallway",
    },
    "es": {
        RoomType.front_exterior: "Fachada", RoomType.backyard: "Jardín", RoomType.aerial: "Vista aérea",
        RoomType.pool: "Piscina", RoomType.living_room: "Salón", RoomType.kitchen: "Cocina",
        RoomType.dining_room: "Comedor", RoomType.bedroom: "Dormitorio", RoomType.bathroom: "Baño",
        RoomType.office: "Despacho", RoomType.laundry: "Lavadero", RoomType.garage: "Garaje", RoomType.hallway: "Pasillo",
    },
    "fr": {
        RoomType.front_exterior: "Façade", RoomType.backyard: "Jardin", RoomType.aerial: "Vue aérienne",
        RoomType.pool: "Piscine", RoomType.living_room: "Séjour", RoomType.kitchen: "Cuisine",
        RoomType.dining_room: "Salle à manger", RoomType.bedroom: "Chambre", RoomType.bathroom: "Salle de bain",
        RoomType.office: "Bureau", RoomType.laundry: "Buanderie", RoomType.garage: "Garage", RoomType.hallway: "Couloir",
    },
    "de": {
        RoomType.front_exterior: "Ansicht", RoomType.backyard: "Garten", RoomType.aerial: "Luftbild",
        RoomType.pool: "Pool", RoomType.living_room: "Wohnzimmer", RoomType.kitchen: "Küche",
        RoomType.dining_room: "Esszimmer", RoomType.bedroom: "Schlafzimmer", RoomType.bathroom: "Bad",
        RoomType.office: "Arbeitszimmer", RoomType.laundry: "Waschküche", RoomType.garage: "Garage",
        RoomType.hallway: "Flur",
    },
}
# beds, baths, and the two area units
FACT_WORDS: dict[str, tuple[str, str, str, str]] = {
    "en": ("bd", "ba", "sq ft", "m²"),
    "es": ("hab.", "baños", "pies²", "m²"),
    "fr": ("ch.", "sdb", "pi²", "m²"),
    "de": ("Zi.", "Bäder", "sq ft", "m²"),
}
DISCLOSURE: dict[str, str] = {
    "en": "Motion generated from still photos",
    "es": "Movimiento generado a partir de fotos",
    "fr": "Mouvement généré à partir de photos",
    "de": "Bewegung aus Fotos generiert",
}


def room_name(room: RoomType, language: str) -> str | None:
    """The caption for a room; None for `other`, which has no name worth showing."""
    return ROOM_NAMES[language].get(room)


def price_text(listing: Listing) -> str | None:
    """The price in the language's currency format, whole units (no cents on a house)."""
    if listing.price is None:
        return None
    locale = Locale.parse(listing.caption_language)
    pattern = parse_pattern(locale.currency_formats["standard"])
    pattern.frac_prec = (0, 0)
    text = pattern.apply(round(listing.price.amount), locale, currency=listing.price.currency, currency_digits=False)
    return no_narrow_spaces(text)


def facts_text(listing: Listing) -> str | None:
    """'4 bd · 2.5 ba · 2,150 sq ft' in the language's words and number format."""
    lang = listing.caption_language
    beds, baths, sqft, m2 = FACT_WORDS[lang]
    parts = []
    if listing.beds is not None:
        parts.append(f"{listing.beds} {beds}")
    if listing.baths is not None:
        parts.append(f"{format_decimal(listing.baths, locale=lang)} {baths}")
    if listing.area is not None:
        unit = sqft if listing.area.unit == "sqft" else m2
        parts.append(f"{format_decimal(round(listing.area.value), locale=lang)} {unit}")
    return no_narrow_spaces(" · ".join(parts)) or None


def no_narrow_spaces(text: str) -> str:
    """CLDR groups French digits with U+202F, which few fonts carry; U+00A0 also never breaks."""
    return text.replace("\u202f", "\u00a0")
