"""Embeddings: the OpenCLIP path through the production loader on a tiny random model, and the
classical fallback on real photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import structlog
from PIL import Image

from tasks.analyze.embeddings import (
    CLASSICAL_BACKEND,
    ClassicalEmbedder,
    OpenClipEmbedder,
    load_embedder,
)
from tasks.settings import Settings

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_clip_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, object]:
    """A registered tiny open_clip architecture and a checkpoint of its random weights."""
    import open_clip
    import torch

    folder = tmp_path_factory.mktemp("clip")
    config = folder / "picaivid-tiny-clip.json"
    config.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model("picaivid-tiny-clip", pretrained=None).eval()
    checkpoint = folder / "tiny.pt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    return "picaivid-tiny-clip", checkpoint, model


def _photos(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (48 + 8 * i, 64, 3), dtype=np.uint8) for i in range(n)]


def test_openclip_loads_local_checkpoint_through_production_path(tiny_clip_checkpoint) -> None:
    import torch

    name, checkpoint, reference = tiny_clip_checkpoint
    embedder = load_embedder(Settings(clip_model=name, clip_pretrained=str(checkpoint), analysis_batch_size=2))
    assert isinstance(embedder, OpenClipEmbedder)
    assert embedder.backend == f"openclip:{name}/{checkpoint}"

    photos = _photos(5)
    emb = embedder.embed(photos)  # 3 batches of at most 2
    assert emb.shape == (5, 32) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # The loaded weights are the saved ones, not a fresh random init.
    with torch.inference_mode():
        x = torch.stack([embedder.preprocess(Image.fromarray(p)) for p in photos])
        expected = reference.encode_image(x).numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(emb, expected, atol=1e-5)
    # Batching does not change the answer.
    np.testing.assert_allclose(embedder.embed(photos[3:4])[0], emb[3], atol=1e-5)

    text = embedder.text_embed(["a kitchen", "a bedroom", "a pool"])
    assert text.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-5)


def test_configured_but_missing_weights_fail_loudly(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not a known tag or valid file path"):
        load_embedder(Settings(clip_model="ViT-B-32", clip_pretrained=str(tmp_path / "absent.pt")))


def test_no_weights_means_classical_fallback_with_a_warning() -> None:
    with structlog.testing.capture_logs() as logs:
        embedder = load_embedder(Settings(clip_pretrained=None))
    assert isinstance(embedder, ClassicalEmbedder)
    assert embedder.backend == CLASSICAL_BACKEND
    assert embedder.text_embed(["a kitchen"]) is None
    assert any(e["event"] == "embedder_fallback" and e["log_level"] == "warning" for e in logs)


def test_classical_embeddings_are_normalised_and_deterministic() -> None:
    photos = _photos(3)
    emb = ClassicalEmbedder().embed(photos)
    assert emb.shape == (3, ClassicalEmbedder().dim) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(emb, ClassicalEmbedder().embed(photos))
    assert ClassicalEmbedder().embed([]).shape == (0, ClassicalEmbedder().dim)


@pytest.mark.parametrize(
    "bad", [np.zeros((32, 32), np.uint8), np.zeros((32, 32, 3), np.float32), np.zeros((4, 32, 3), np.uint8)]
)
def test_bad_arrays_are_refused_by_name(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="image 1: expected HxWx3 uint8"):
        ClassicalEmbedder().embed([np.zeros((32, 32, 3), np.uint8), bad])


@pytest.mark.shared_data
def test_classical_embedding_finds_views_of_one_room(shared_data: Path) -> None:
    """Five views of one room (shared depth frames) sit closer to each other than to any of the
    48 listing photos, which show other rooms."""
    def load(path: Path) -> np.ndarray:
        image = Image.open(path).convert("RGB")
        image.thumbnail((512, 512))
        return np.asarray(image)

    views = [load(p) for p in sorted((shared_data / "depth").glob("color_*.jpg"))]
    others = [load(p) for p in sorted((shared_data / "listings" / "houses").glob("*/*.jpg"))]
    emb = ClassicalEmbedder()
    v, o = emb.embed(views), emb.embed(others)
    within = 1 - (v @ v.T)[np.triu_indices(len(v), 1)]
    across = 1 - v @ o.T
    assert within.max() < across.min()
