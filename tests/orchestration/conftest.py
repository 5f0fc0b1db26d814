"""Orchestration fixtures (the temporary Prefect API, `prefect_api`, is the root conftest's)."""

from __future__ import annotations

import pytest


@pytest.fixture
def create_video_deployment(prefect_api: None) -> str:
    """The create-video deployment registered on the API (no worker needed to create runs)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("create-video")
        client.create_deployment(flow_id=flow_id, name="create-video", entrypoint="flows/create_video.py:create_video")
    return "create-video/create-video"
