"""Typed document errors: each message names the file and says what to do.

Every error is a ``DocumentError`` (a ``ValueError``, so the command line reports it as a message with exit
code 2) with a short machine-readable ``code`` the GUI can switch on. The parser worker process sends
``(code, message)`` back and the caller rebuilds the same class with ``error_from_code``.
"""

from __future__ import annotations

SUPPORTED_TYPES_TEXT = "PDF (.pdf), Word (.docx), web pages (.html, .htm), Markdown (.md) and plain text (.txt)"


class DocumentError(ValueError):
    """A document cannot be read or used; ``str(error)`` is a sentence for the user."""

    code = "document"

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.message, self.name = message, name


class UnreadableFileError(DocumentError):
    """The file cannot be opened at all: missing, a folder, no permission."""

    code = "unreadable"


class EmptyFileError(DocumentError):
    code = "empty"


class FileTooLargeError(DocumentError):
    code = "too_large"


class UnsupportedTypeError(DocumentError):
    code = "unsupported_type"


class NotTextError(DocumentError):
    """A file named as text whose bytes are not text in any common encoding."""

    code = "not_text"


class NoTextError(DocumentError):
    """The file parsed, but holds no text at all (blank pages, an empty body)."""

    code = "no_text"


class NoTextLayerError(NoTextError):
    """A PDF whose pages are images (a scan): there is no text to extract without OCR."""

    code = "no_text_layer"


class UnsafeArchiveError(DocumentError):
    """A DOCX (ZIP) package refused before extraction: zip bomb, path traversal, too many entries."""

    code = "unsafe_archive"


class PasswordProtectedError(DocumentError):
    code = "encrypted"


class CorruptDocumentError(DocumentError):
    code = "corrupt"


class ParserTimeoutError(DocumentError):
    code = "timeout"


class ParserMemoryError(DocumentError):
    code = "out_of_memory"


class ParserCrashedError(DocumentError):
    code = "crashed"


class ParseCancelledError(DocumentError):
    code = "cancelled"


class DocumentTooLongError(DocumentError):
    """A prompt that would not fit the model's context: refused with both token counts, never truncated."""

    code = "too_long"

    def __init__(self, prompt_tokens: int, context_tokens: int, *, reserve_tokens: int = 0,
                 name: str | None = None, hint: str = "") -> None:
        what = f"The prompt for {name}" if name else "The prompt"
        reserved = (f" (of which {reserve_tokens:,} are kept for the reasoning and the answer, so at most "
                    f"{context_tokens - reserve_tokens:,} are left for the prompt)") if reserve_tokens else ""
        message = (f"{what} is {prompt_tokens:,} tokens but the model's context is {context_tokens:,} tokens"
                   f"{reserved}. {hint or 'Use the retrieval or sequential strategy, or a model with a longer context.'}")
        super().__init__(message, name=name)
        self.prompt_tokens, self.context_tokens, self.reserve_tokens = prompt_tokens, context_tokens, reserve_tokens


_CLASSES: dict[str, type[DocumentError]] = {cls.code: cls for cls in (
    DocumentError, UnreadableFileError, EmptyFileError, FileTooLargeError, UnsupportedTypeError, NotTextError, NoTextError,
    NoTextLayerError, UnsafeArchiveError, PasswordProtectedError, CorruptDocumentError, ParserTimeoutError,
    ParserMemoryError, ParserCrashedError, ParseCancelledError)}


def error_from_code(code: str, message: str, name: str | None = None) -> DocumentError:
    """The error a worker process reported as ``(code, message)``; unknown codes become ``DocumentError``."""
    return _CLASSES.get(code, DocumentError)(message, name=name)
