"""report/make.py: paper.md is hand-written prose around generated blocks; the blocks are what the committed
experiments/ files make, and nothing outside a marker is touched."""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'report'))
import make  # noqa: E402


def test_fill_rewrites_only_between_markers():
    text = ("Hand-written prose with 0.5 in it.\n<!-- generated: literature -->\nstale table\n<!-- /generated -->\n"
            "More prose.\n")
    out = make.fill(text)
    assert out.startswith("Hand-written prose with 0.5 in it.\n<!-- generated: literature -->\n")
    assert out.endswith("<!-- /generated -->\nMore prose.\n")
    assert 'stale table' not in out and 'Merity et al. 2017' in out
    assert make.fill(out) == out  # filling twice changes nothing


def test_unknown_block_is_a_clear_error():
    with pytest.raises(SystemExit, match="unknown generated block 'nope'"):
        make.fill("<!-- generated: nope -->\n<!-- /generated -->\n")


def test_committed_paper_is_what_the_committed_results_make():
    """Every table in report/paper.md equals what make.py builds from experiments/ now: a result changed without
    `python report/make.py`, or a table edited by hand, fails here."""
    paper = open(os.path.join(REPO, 'report', 'paper.md')).read()
    assert make.MARKER.search(paper)
    assert make.fill(paper) == paper


def test_readme_headline_is_what_the_committed_results_make():
    readme = open(os.path.join(REPO, 'README.md')).read()
    assert make.headline() in readme
    assert len(make.headline().strip().split("\n")) <= 2 + 13  # header, rule, at most 13 rows
