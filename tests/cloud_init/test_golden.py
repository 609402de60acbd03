"""Golden files: the exact user-data of representative desks.

Regenerate after an intended change with ``BUREAU_UPDATE_GOLDEN=1 pytest tests/cloud_init`` and
review the diff like code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cloud_init import render_desk
from tests.cloud_init.desks import REPRESENTATIVE_DESKS

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("BUREAU_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("name", sorted(REPRESENTATIVE_DESKS))
def test_rendered_user_data_matches_golden_file(name: str) -> None:
    rendered = render_desk(REPRESENTATIVE_DESKS[name]())
    golden = GOLDEN_DIR / f"{name}.yaml"
    if UPDATE:
        golden.write_text(rendered.text)
    assert not rendered.gzipped
    assert rendered.text == golden.read_text(), f"regenerate with BUREAU_UPDATE_GOLDEN=1 ({golden})"


def test_every_golden_file_belongs_to_a_representative_desk() -> None:
    assert {path.stem for path in GOLDEN_DIR.glob("*.yaml")} == set(REPRESENTATIVE_DESKS)
