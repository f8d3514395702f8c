import numpy as np
import pandas as pd
import pytest

from farga.symbols import catalogue
from farga.symbols.evaluate import per_class_table, score_predictions

pytestmark = pytest.mark.model

IDS = {s.latex: s.symbol_id for s in catalogue.symbols()}


def manifest(n: int, writers: list[int] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"writer": writers or [1] * n})


def test_topk_accuracy_counts_rank():
    truth = np.array([IDS["A"], IDS["B"], IDS["C"], IDS["D"]])
    topk = np.array(
        [
            [IDS["A"], IDS["B"], IDS["C"], IDS["D"], IDS["E"]],  # top-1 hit
            [IDS["A"], IDS["C"], IDS["B"], IDS["D"], IDS["E"]],  # rank 3
            [IDS["A"], IDS["B"], IDS["D"], IDS["E"], IDS["C"]],  # rank 5
            [IDS["A"], IDS["B"], IDS["C"], IDS["E"], IDS["F"]],  # miss
        ]
    )
    m = score_predictions(topk, truth, manifest(4), catalogue.by_id())
    assert (m["top1"], m["top3"], m["top5"]) == (0.25, 0.5, 0.75)


def test_confusable_groups_forgive_only_confusable_mistakes():
    truth = np.array([IDS[r"\mid"], IDS[r"\triangle"], IDS["A"]])
    top1 = np.array([IDS["|"], IDS[r"\Delta"], IDS["B"]])
    topk = np.stack([top1] + [top1] * 4, axis=1)
    m = score_predictions(topk, truth, manifest(3), catalogue.by_id())
    assert m["top1"] == 0.0
    assert m["top1_up_to_confusable"] == pytest.approx(2 / 3)


def test_slices_by_family_and_writer():
    truth = np.array([IDS["A"], IDS["B"], IDS[r"\alpha"], IDS[r"\alpha"]])
    top1 = np.array([IDS["A"], IDS["A"], IDS[r"\alpha"], IDS[r"\beta"]])
    m = score_predictions(np.repeat(top1[:, None], 5, 1), truth, manifest(4, [7, 7, 7, 9]), catalogue.by_id())
    assert m["by_family"] == {"latin": 0.5, "greek": 0.5}
    assert m["by_writer"] == {"main_writer": pytest.approx(2 / 3), "other_writers": 0.0}
    assert 0 <= m["macro_f1"] <= 1


def test_per_class_table_lists_worst_first():
    truth = np.array([IDS["A"], IDS["A"], IDS["B"]])
    top1 = np.array([IDS["A"], IDS["A"], IDS["C"]])
    table = per_class_table(np.repeat(top1[:, None], 5, 1), truth, catalogue.by_id())
    assert table.latex.tolist() == ["B", "A"]
    assert table.top1.tolist() == [0.0, 1.0]
