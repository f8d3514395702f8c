import pytest
from matplotlib.mathtext import MathTextParser

from farga.symbols import catalogue

pytestmark = pytest.mark.code


def test_catalogue_has_the_369_hasyv2_classes_once_each():
    symbols = catalogue.symbols()
    assert len(symbols) == 369
    assert len({s.symbol_id for s in symbols}) == 369
    assert len({s.latex for s in symbols}) == 369


def test_every_symbol_has_a_known_family_and_mode():
    for s in catalogue.symbols():
        assert s.family in catalogue.FAMILIES, s
        assert s.mode in {"math", "text", "both"}, s


def test_packages_and_usepackage_lines():
    by_latex = catalogue.by_latex()
    assert by_latex[r"\mathscr{A}"].usepackage == r"\usepackage{mathrsfs}"
    assert by_latex[r"\mathds{R}"].package == "dsfont"
    assert by_latex[r"\alpha"].usepackage is None
    assert by_latex[r"\alpha"].unicode == "α"


def test_every_render_expression_is_drawable_by_mathtext():
    parser = MathTextParser("path")
    for s in catalogue.symbols():
        parser.parse(s.render)  # raises on anything mathtext cannot draw


def test_confusable_groups_name_only_catalogue_symbols_or_aliases():
    known = set(catalogue.by_latex()) | {r"\Box", r"\bowtie"}
    unknown = [name for group in catalogue.CONFUSABLE_GROUPS for name in group if name not in known]
    assert unknown == [] or set(unknown) <= {r"\Box"}


def test_confusable_index_joins_groups_transitively():
    names = [r"\mid", "|", "1", "A", r"\triangle", r"\Delta"]
    groups = catalogue.confusable_index(names)
    assert groups[0] == groups[1] == groups[2]  # \mid ~ | and | ~ 1
    assert groups[4] == groups[5]
    assert len({groups[3], groups[0], groups[4]}) == 3
