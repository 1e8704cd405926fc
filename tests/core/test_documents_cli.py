"""``ponder doc FILE``: text by page, token counts and the strategy, as text and JSON; errors exit with 2."""

from __future__ import annotations

import json

from core.cli import main
from tests.checkpoints import R1_TOKENIZER
from tests.core.test_documents_support import FACT_PAGE, FACT_QUESTION, fact_pages, make_pdf


def test_doc_json_for_a_pdf_with_the_model_tokenizer(tmp_path, capsys):
    path = make_pdf(tmp_path / "survey.pdf", fact_pages())
    code = main(["doc", str(path), "--model", str(R1_TOKENIZER), "--context", "4096", "--reserve", "1024",
                 "--question", FACT_QUESTION, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["document"]["pages"] == 50 and report["tokens"]["exact"]
    assert sum(s["tokens"] for s in report["tokens"]["sections"]) <= report["tokens"]["total"]
    strategy = report["strategy"]
    assert strategy["strategy"] == "retrieval" and FACT_PAGE in [c["page"] for c in strategy["included"]]
    assert strategy["prompt_tokens"] <= report["context"]["prompt_limit_tokens"] == 3072


def test_doc_text_report_and_a_refused_whole_prompt(tmp_path, capsys):
    path = make_pdf(tmp_path / "survey.pdf", fact_pages())
    assert main(["doc", str(path), "--context", "32768"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("survey.pdf (PDF, 50 pages") and "— Page 1 ·" in out and "Strategy: whole." in out
    code = main(["doc", str(path), "--context", "2048", "--strategy", "whole", "--question", FACT_QUESTION])
    err = capsys.readouterr().err
    assert code == 2 and "2,048 tokens" in err and "tokens but the model's context is" in err


def test_doc_keeps_section_titles_as_written(tmp_path, capsys):
    path = tmp_path / "notes.md"
    path.write_text("# NASA budget for FY2025\n\nThe agency asked for more.\n\n# iPhone sales\n\nThey rose.\n",
                    encoding="utf-8")
    assert main(["doc", str(path), "--context", "4096"]) == 0
    out = capsys.readouterr().out
    assert "— “NASA budget for FY2025” ·" in out and "— “iPhone sales” ·" in out  # not "Nasa" / "Iphone"


def test_doc_errors_exit_with_a_message(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert main(["doc", str(empty), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "EmptyFileError" and "empty.txt" in error["message"]
