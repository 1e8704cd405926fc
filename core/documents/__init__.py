"""Long documents: parse (in a worker process), chunk, budget, choose a strategy, build prompts, cite.

No torch and no Qt: the GUI imports this package. The parsers' libraries (pypdfium2, python-docx) are
imported only inside the worker process; numpy (citations, retrieval) and the tokenizer come with the
package, so no worker thread of the window imports them later.

    document = parse_document(path, on_progress=..., cancel=event)    # ParsedDocument or DocumentError
    store.add_document(document.sha256, document.name, document.mime, document.size_bytes, document.to_dict())
    indexed = IndexedDocument(document, TokenizerCounter.from_model_dir(model_dir))   # or EstimatedCounter()
    prompt = indexed.prompt(question, ContextBudget.for_context(context_tokens))   # whole / retrieval / sequential
    client.chat(prompt.messages ...)  or  indexed.sequential_reader(question, budget, ask).read()
    CitationIndex(document).find(answer)   # spans -> section, page, character range

A chat with documents: ``DocumentContext(DocumentSet.of(documents), counter, budget).prepare(history, ask)``
turns the chat's messages into the ones to send (documents first, stable, for the prefix cache).
"""

from core.documents.budget import DEFAULT_RESERVE_TOKENS, MIN_RESERVE_TOKENS, ContextBudget
from core.documents.chunking import Chunk, SectionTokens, chunk_document, count_sections
from core.documents.citations import Citation, CitationIndex, find_citations
from core.documents.combine import DocumentSet, Location
from core.documents.conversation import DocumentContext, Prepared
from core.documents.errors import (SUPPORTED_TYPES_TEXT, CorruptDocumentError, DocumentError, DocumentTooLongError,
                                   EmptyFileError, FileTooLargeError, NotTextError, NoTextError, NoTextLayerError,
                                   ParseCancelledError, ParserCrashedError, ParserMemoryError, ParserTimeoutError,
                                   PasswordProtectedError, UnreadableFileError, UnsafeArchiveError,
                                   UnsupportedTypeError)
from core.documents.parsed import KINDS, ParsedDocument, Section
from core.documents.prompt import document_header, question_messages, render_document
from core.documents.sequential import ReadProgress, SequentialReader, SequentialResult
from core.documents.strategy import (STRATEGIES, QuestionPrompt, IndexedDocument, StrategyChoice, choose_strategy,
                                     whole_document_cue)
from core.documents.tokens import EstimatedCounter, TokenCounter, TokenizerCounter
from core.documents.worker import CheckedFile, ParseLimits, ParseProgress, check_file, iter_parse, parse_document

__all__ = [
    "DEFAULT_RESERVE_TOKENS", "KINDS", "MIN_RESERVE_TOKENS", "STRATEGIES", "SUPPORTED_TYPES_TEXT", "CheckedFile",
    "Chunk", "Citation", "CitationIndex", "ContextBudget", "CorruptDocumentError", "DocumentContext", "DocumentError",
    "QuestionPrompt", "DocumentSet", "Location", "Prepared",
    "IndexedDocument", "DocumentTooLongError", "EmptyFileError", "EstimatedCounter", "FileTooLargeError",
    "NoTextError", "NoTextLayerError", "NotTextError", "ParseCancelledError", "ParseLimits", "ParseProgress",
    "ParsedDocument", "ParserCrashedError", "ParserMemoryError", "ParserTimeoutError", "PasswordProtectedError",
    "ReadProgress", "Section", "SectionTokens", "SequentialReader", "SequentialResult", "StrategyChoice",
    "TokenCounter", "TokenizerCounter", "UnreadableFileError", "UnsafeArchiveError", "UnsupportedTypeError",
    "check_file", "choose_strategy", "chunk_document", "count_sections", "document_header", "find_citations",
    "iter_parse", "parse_document", "question_messages", "render_document", "whole_document_cue",
]
