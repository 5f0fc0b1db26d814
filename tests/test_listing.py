"""jobs.listing and jobs.formats as Rails writes them: refused at INSERT by named constraints,
the rest at intake with the field and the rule; the words each caption language needs."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from db.enums import RoomType
from db.listing import CAPTION_LANGUAGES, ListingError, parse_listing
from db.models import OUTPUT_FORMATS
from db.session import engine_for
from flows.dev.sample_listing import DEMO_LISTING
from tasks.domain.formats import FORMATS
from tasks.timeline.wording import DISCLOSURE, FACT_WORDS, ROOM_NAMES

FULL = {**DEMO_LISTING, "agent": {**DEMO_LISTING["agent"], "logo_uri": "s3://media/agents/7/logo.png",
                                  "headshot_uri": "s3://media/agents/7/headshot.jpg"}}


def rails_insert(db: str, listing: object, formats: str | None = None) -> None:
    """What ActiveRecord sends: a JSON document and a text array."""
    with engine_for(db).begin() as conn:
        conn.execute(sa.text("INSERT INTO jobs (listing_id, listing, formats) VALUES ('L-1', CAST(:l AS jsonb), "
                             "CAST(:f AS varchar[]))"), {"l": json.dumps(listing), "f": formats})


def test_a_full_listing_and_formats_are_accepted(db: str) -> None:
    rails_insert(db, FULL, "{16x9,9x16}")
    rails_insert(db, None)  # JSON null: no cards
    parse_listing(FULL)


@pytest.mark.parametrize("listing, formats, constraint", [
    ({"adress_lines": ["typo"]}, None, "ck_jobs_listing_shape"),
    ({"agent": {"name": "A", "twitter": "@a"}}, None, "ck_jobs_listing_shape"),
    ("just a string", None, "ck_jobs_listing_shape"),
    ({"agent": {"logo_uri": "https://cdn.example/logo.png"}}, None, "ck_jobs_listing_media_uri"),
    ({"brand": {"primary": "navy"}}, None, "ck_jobs_listing_colour"),
    ({"caption_language": "ja"}, None, "ck_jobs_listing_language"),
    ({}, "{4x3}", "ck_jobs_formats_known"),
    ({}, "{}", "ck_jobs_formats_known"),
])
def test_the_database_refuses_what_no_card_can_show(db: str, listing, formats, constraint) -> None:
    with pytest.raises(IntegrityError, match=constraint):
        rails_insert(db, listing, formats)


@pytest.mark.parametrize("listing, reason", [
    ({"price": {"amount": -5, "currency": "USD"}}, "listing.price.amount: Input should be greater than or equal to 0"),
    ({"price": {"amount": 5, "currency": "XYZ"}}, "listing.price.currency: Value error, XYZ is not an ISO 4217"),
    ({"baths": 2.3}, "listing.baths: Input should be a multiple of 0.5"),
    ({"address_lines": ["x" * 49]}, "listing.address_lines.0: String should have at most 48 characters"),
    ({"agent": {"email": "not-an-email"}}, "listing.agent.email: String should match pattern"),
    ({"status": ""}, "listing.status: String should have at least 1 character"),
])
def test_intake_refuses_the_rest_with_the_field_and_the_rule(listing, reason) -> None:
    with pytest.raises(ListingError) as err:
        parse_listing(listing)
    assert str(err.value).startswith(reason)


def test_intake_refuses_a_bad_listing_before_writing_anything(db: str, tmp_path) -> None:
    from PIL import Image

    from tasks.intake import IntakeError, JobRequest, create_job

    (tmp_path / "photos").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "photos" / "a.jpg")
    with pytest.raises(IntakeError, match=r"listing\.beds: Input should be less than or equal to 99"):
        create_job(JobRequest(tmp_path / "photos", listing={"beds": 140}))
    with pytest.raises(IntakeError, match="unknown output format 4x3"):
        create_job(JobRequest(tmp_path / "photos", formats=("16x9", "4x3")))
    with engine_for(db).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar_one() == 0


def test_every_caption_language_has_all_its_words() -> None:
    named = set(RoomType) - {RoomType.other}
    for language in CAPTION_LANGUAGES:
        assert set(ROOM_NAMES[language]) == named and language in FACT_WORDS and language in DISCLOSURE


def test_formats_agree() -> None:
    assert set(OUTPUT_FORMATS) == set(FORMATS) == {name for name, f in FORMATS.items() if f.safe_margins}


def test_the_rails_doc_example_is_a_valid_listing() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "rails.md").read_text()
    (example,) = re.findall(r"```json listing\n(.*?)```", doc, re.S)
    assert parse_listing(json.loads(example)).branded


def test_a_run_refuses_what_rails_wrote_before_any_work(db: str) -> None:
    """Rails' INSERT passes the constraints; the run's first phase names the field."""
    from db.models import Job, Photo
    from db.session import session_scope
    from tasks.analyze.phase import run_analyze

    with session_scope() as s:
        job = Job(listing={"beds": 140, "agent": {"phone": "call me"}})
        s.add(job)
        s.flush()
        job_id = job.id
        s.add(Photo(job_id=job_id, s3_uri="s3://media/a.jpg", original_filename="a.jpg"))
    with pytest.raises(ListingError, match=r"^listing\.beds: Input should be less than or equal to 99$"):
        run_analyze(job_id)
