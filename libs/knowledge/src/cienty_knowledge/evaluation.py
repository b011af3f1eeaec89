"""Retrieval quality: recall@k and MRR of labelled questions (the tests, the bench, a CLI).

A question is answered by a document (its name in the source, e.g. `entrega.md`) and
optionally by one of its sections (the last part of the chunk's heading path). A hit is
relevant when its chunk belongs to that document; recall@k is the share of questions with a
relevant hit in the top k, MRR the mean of 1 / rank of the first relevant hit (0 when none is
in the top k). The section-level recall (`section_recall`) is reported beside, as a stricter
view, for questions that name a heading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cienty_knowledge.chunking import HEADING_SEPARATOR
from cienty_knowledge.search import KnowledgeSearch, QueryMode
from cienty_knowledge.types import SearchHit


@dataclass(frozen=True)
class Question:
    text: str
    document: str
    heading: str | None = None


@dataclass(frozen=True)
class ModeQuality:
    mode: str
    questions: int
    k: int
    recall: float  # recall@k, document level
    mrr: float  # MRR@k, document level
    section_recall: float  # recall@k of the labelled section (questions with a heading)
    misses: tuple[str, ...]  # questions with no relevant hit in the top k


def load_questions(path: Path) -> list[Question]:
    """Questions from a YAML file: `questions: [{q, document, heading?}, ...]`."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: expected a non-empty 'questions' list")
    questions: list[Question] = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not item.get("q") or not item.get("document"):
            raise ValueError(f"{path}: question {number} needs 'q' and 'document'")
        heading = item.get("heading")
        questions.append(
            Question(str(item["q"]), str(item["document"]), str(heading) if heading else None)
        )
    return questions


def _matches_document(hit: SearchHit, document: str) -> bool:
    found = hit.chunk.document
    return found == document or found.endswith("/" + document)


def _matches_section(hit: SearchHit, question: Question) -> bool:
    if question.heading is None or not _matches_document(hit, question.document):
        return False
    return hit.chunk.heading.split(HEADING_SEPARATOR)[-1].strip() == question.heading.strip()


def first_relevant_rank(hits: Sequence[SearchHit], document: str) -> int | None:
    for rank, hit in enumerate(hits, 1):
        if _matches_document(hit, document):
            return rank
    return None


def score_mode(
    mode: str, questions: Sequence[Question], results: Sequence[Sequence[SearchHit]], k: int
) -> ModeQuality:
    """recall@k, MRR@k and section recall of one mode's result lists (one per question)."""
    if len(questions) != len(results) or not questions:
        raise ValueError("one result list per question, and at least one question")
    found = reciprocal = 0.0
    sections = labelled = 0
    misses: list[str] = []
    for question, hits in zip(questions, results, strict=True):
        top = list(hits)[:k]
        rank = first_relevant_rank(top, question.document)
        if rank is None:
            misses.append(question.text)
        else:
            found += 1
            reciprocal += 1.0 / rank
        if question.heading is not None:
            labelled += 1
            sections += any(_matches_section(hit, question) for hit in top)
    n = len(questions)
    return ModeQuality(
        mode=mode,
        questions=n,
        k=k,
        recall=found / n,
        mrr=reciprocal / n,
        section_recall=sections / labelled if labelled else float("nan"),
        misses=tuple(misses),
    )


async def evaluate(
    search: KnowledgeSearch,
    questions: Sequence[Question],
    *,
    modes: Sequence[QueryMode] = ("vector", "hybrid"),
    k: int = 5,
    source: str | None = None,
) -> list[ModeQuality]:
    """Runs every question through `search` in each mode and scores the results."""
    qualities: list[ModeQuality] = []
    for mode in modes:
        results = [await search.search(q.text, k=k, mode=mode, source=source) for q in questions]
        qualities.append(score_mode(mode, questions, results, k))
    return qualities


def markdown_table(qualities: Sequence[ModeQuality]) -> str:
    if not qualities:
        return ""
    k = qualities[0].k
    lines = [
        f"| mode | questions | recall@{k} | MRR@{k} | section recall@{k} |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {q.mode} | {q.questions} | {q.recall:.3f} | {q.mrr:.3f} | {q.section_recall:.3f} |"
        for q in qualities
    ]
    return "\n".join(lines)
