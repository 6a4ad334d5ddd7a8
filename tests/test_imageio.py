"""Safe decoding: every odd file either becomes an upright RGB array or a named reason."""

from __future__ import annotations

import io
import os
import sys

import numpy as np
import pytest
from PIL import Image
from skimage import data

from cfkit.imageio import ImageDecodeError, decode_rgb, list_images, load_rgb, save_png


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return data.astronaut()[:256, 64:320]


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_rgb_roundtrip(tmp_path, face):
    save_png(tmp_path / "a.png", face)
    assert np.array_equal(load_rgb(tmp_path / "a.png"), face)
    assert not list(tmp_path.glob("*.part")), "atomic write left a temp file"


def test_cmyk_jpeg_becomes_rgb(tmp_path, face):
    p = _save(Image.fromarray(face).convert("CMYK"), tmp_path / "c.jpg", quality=95)
    out = load_rgb(p)
    assert out.shape == face.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - face.astype(int)).mean() < 12


def test_16bit_png_is_scaled_not_clipped(tmp_path, face):
    gray = np.asarray(Image.fromarray(face).convert("L"), dtype=np.uint16) * 257
    p = tmp_path / "g16.png"
    Image.fromarray(gray).save(p)
    assert Image.open(p).mode.startswith("I")
    out = load_rgb(p)
    assert out.shape == (*gray.shape, 3)
    assert np.abs(out[..., 0].astype(int) - (gray // 257).astype(int)).max() <= 1


def test_palette_with_transparency_and_alpha_composite_on_white(tmp_path, face):
    rgba = np.dstack([face, np.full(face.shape[:2], 255, np.uint8)])
    rgba[:20, :20, 3] = 0
    p = _save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png")
    out = load_rgb(p)
    assert (out[:20, :20] == 255).all() and np.array_equal(out[40:, 40:], face[40:, 40:])
    pal = Image.fromarray(rgba, "RGBA").convert("P", palette=Image.Palette.ADAPTIVE)
    pal.info["transparency"] = 0
    out = load_rgb(_save(pal, tmp_path / "p.png", transparency=0))
    assert out.shape == face.shape


def test_grayscale_and_bilevel(tmp_path, face):
    g = load_rgb(_save(Image.fromarray(face).convert("L"), tmp_path / "l.png"))
    assert g.shape == face.shape and (g[..., 0] == g[..., 2]).all()
    b = load_rgb(_save(Image.fromarray(face).convert("1"), tmp_path / "b.png"))
    assert set(np.unique(b)) <= {0, 255}


def test_exif_rotation_is_applied(tmp_path, face):
    im = Image.fromarray(face[:, :200])  # 256 x 200, portrait
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    p = _save(im, tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    out = load_rgb(p)
    assert out.shape[:2] == (200, 256), "EXIF orientation 6 must swap width and height"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"<html><body>404 not found</body></html>", "not_image"),
        (b"\x00" * 100, "not_image"),
    ],
)
def test_bad_bytes_have_reasons(tmp_path, content, reason):
    p = tmp_path / "x.jpg"
    p.write_bytes(content)
    with pytest.raises(ImageDecodeError) as e:
        load_rgb(p)
    assert e.value.reason == reason and str(p) in str(e.value)


def test_truncated_jpeg_is_corrupt(tmp_path, face):
    buf = io.BytesIO()
    Image.fromarray(face).save(buf, "JPEG")
    p = tmp_path / "t.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageDecodeError) as e:
        load_rgb(p)
    assert e.value.reason == "corrupt"


def test_decompression_bomb_refused_before_decoding(tmp_path):
    p = tmp_path / "bomb.png"
    Image.new("1", (10_000, 9_000)).save(p)  # 90 MP, a few KB on disk
    assert p.stat().st_size < 200_000
    with pytest.raises(ImageDecodeError) as e:
        load_rgb(p)
    assert e.value.reason == "too_large"
    assert load_rgb(p, max_pixels=100_000_000).shape == (9_000, 10_000, 3)


def test_decode_bytes_and_missing_file(tmp_path, face):
    buf = io.BytesIO()
    Image.fromarray(face).save(buf, "PNG")
    assert np.array_equal(decode_rgb(buf.getvalue()), face)
    with pytest.raises(ImageDecodeError) as e:
        load_rgb(tmp_path / "nope.png")
    assert e.value.reason == "unreadable"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file regardless of permissions")
def test_unreadable_file(tmp_path, face):
    p = tmp_path / "u.png"
    save_png(p, face)
    p.chmod(0)
    with pytest.raises(ImageDecodeError) as e:
        load_rgb(p)
    assert e.value.reason == "unreadable"


def test_list_images(tmp_path, face):
    (tmp_path / "sub").mkdir()
    save_png(tmp_path / "b.png", face)
    save_png(tmp_path / "sub" / "a.PNG", face)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["b.png", "a.PNG"]
    with pytest.raises(Exception, match="folder not found"):
        list_images(tmp_path / "missing")


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_decoding_a_large_rgba_png_holds_the_file_and_its_rgb_result_only(tmp_path):
    """Peak memory of a decode stays within DECODE_BYTES_PER_PIXEL (the decoded RGBA file and the RGB result);
    converting the whole image at once took ~21 bytes a pixel (here +337 MiB; an 80 MP RGBA PNG: 1.7 GB)."""
    import subprocess

    h, w = 4000, 4000
    y, x = np.arange(h, dtype=np.uint8)[:, None], np.arange(w, dtype=np.uint8)[None, :]
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = x, y, x ^ y, x + 2 * y
    path = tmp_path / "big.png"
    Image.fromarray(rgba).save(path, compress_level=1)
    few = rgba[::50, ::50].astype(np.float64)
    on_white = few[..., :3] * few[..., 3:] / 255 + 255 * (1 - few[..., 3:] / 255)
    del rgba, y, x
    probe = (
        "import resource, sys\nimport numpy as np\nfrom cfkit.imageio import load_rgb\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\nrgb = load_rgb(sys.argv[1])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\nnp.save(sys.argv[2], rgb[::50, ::50])\n"
        "print(before, after)"
    )
    res = subprocess.run([sys.executable, "-c", probe, path, tmp_path / "s.npy"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    before, after = map(int, res.stdout.split())
    from cfkit.imageio import DECODE_BYTES_PER_PIXEL

    slack = 32 << 20  # Pillow's PNG plugin and decoder buffers, whatever the image size
    assert (after - before) * 1024 <= DECODE_BYTES_PER_PIXEL * h * w + slack, f"{(after - before) >> 10} MiB"
    assert np.abs(np.load(tmp_path / "s.npy") - on_white).max() <= 1  # alpha composited on white
