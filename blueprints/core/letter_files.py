"""Excuse-letter files: what a file is, decided by its content (never its name or the sent type),
and the smaller JPEG a phone photo is shown as.

Pillow reads JPEG, PNG and WebP, and HEIC/HEIF through pillow-heif; pypdf reads PDFs. Anything
else, or a file either library cannot read to the end, is refused with a message for the user.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from blueprints.core.errors import ValidationError

MAX_FILE_BYTES = 5 * 1024 * 1024
UPLOAD_LIMIT = MAX_FILE_BYTES + 2 * 1024 * 1024  # a letter's request: the file, its fields, room to say "over 5 MB"
MAX_PIXELS = 50_000_000  # a 50-megapixel photo; larger is refused before it is decoded
VIEW_SIDE = 1600  # the view copy's longest side, in pixels
IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}
PDF_TYPE = "application/pdf"
ACCEPTED = "a photo (JPEG, PNG, WebP or HEIC) or a PDF"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")

pillow_heif.register_heif_opener()


@dataclass(frozen=True)
class LetterFile:
    content: bytes
    content_type: str
    file_name: str
    view_content: bytes | None  # a JPEG for images; None for PDFs (downloaded, never shown inline)


def _refuse(message: str) -> ValidationError:
    return ValidationError(message, {"file": [message]})


def check_letter_file(name: str | None, content: bytes | None) -> LetterFile:
    """The uploaded file checked by content; raises ValidationError (422) naming the problem."""
    if content is None:
        raise _refuse(f"Attach the signed letter: {ACCEPTED}.")
    if not content:
        raise _refuse("The file is empty.")
    if len(content) > MAX_FILE_BYTES:
        raise _refuse(f"The file is {len(content) / 1024 / 1024:.1f} MB; the limit is 5 MB.")
    if content.startswith(b"%PDF-"):
        _check_pdf(content)
        return LetterFile(content, PDF_TYPE, safe_file_name(name, "pdf"), None)
    content_type, view = _check_image(content)
    return LetterFile(content, content_type, safe_file_name(name, content_type.rsplit("/", 1)[1]), view)


def _check_pdf(content: bytes) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pypdf warns about repairable oddities; unreadable raises
            reader = PdfReader(io.BytesIO(content), strict=False)
            if reader.is_encrypted:
                raise _refuse("The PDF is password-protected; send it without a password.")
            if len(reader.pages) < 1:
                raise _refuse("The PDF has no pages.")
            reader.pages[0].mediabox  # noqa: B018 - reading the first page proves the file is usable
    except ValidationError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise _refuse("The PDF is damaged or incomplete; scan or save it again.") from exc


def _check_image(content: bytes) -> tuple[str, bytes]:
    """(content type, view JPEG) of a readable image in an accepted format."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content))
            kind = image.format
            if kind not in IMAGE_TYPES:
                raise _refuse(f"That file is not {ACCEPTED}.")
            if image.width * image.height > MAX_PIXELS:
                raise _refuse("The image is too large in pixels; send a smaller photo.")
            image.load()  # decodes every byte: a truncated or corrupt image fails here
            return IMAGE_TYPES[kind], _view_copy(image)
    except ValidationError:
        raise
    except UnidentifiedImageError as exc:
        raise _refuse(f"That file is not {ACCEPTED}.") from exc
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning,
            EOFError) as exc:
        raise _refuse("The image is damaged or incomplete; take or save the photo again.") from exc


def _view_copy(image: Image.Image) -> bytes:
    """Upright (EXIF orientation), at most VIEW_SIDE pixels a side, as JPEG: what staff look at."""
    image = ImageOps.exif_transpose(image)
    image.thumbnail((VIEW_SIDE, VIEW_SIDE))
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, optimize=True)
    return out.getvalue()


def safe_file_name(name: str | None, extension: str) -> str:
    """A download name with no path, quotes or control characters, ending in the real extension."""
    stem = (name or "letter").replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    stem = _SAFE_NAME.sub("_", stem).strip(" ._")[:80] or "letter"
    return f"{stem}.{'jpg' if extension == 'jpeg' else extension}"
