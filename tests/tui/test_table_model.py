"""The table model without Textual: filter, sort, window, cells and in-place apply."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest

from basecamp_tui.table_model import Change, Sort, TableModel

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Row:
    key: str
    name: str
    status: str = "ok"
    rank: int = 0
    running: bool = False


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Calls:
    """Counts what the model asks of the tab."""

    def __init__(self) -> None:
        self.cells = 0
        self.haystacks = 0
        self.sort_keys = 0


def make(rows: list[Row] = (), *, max_rows: int = 300, reverse: bool = False,
         clock: Clock | None = None) -> tuple[TableModel[Row, tuple[str, ...]], Calls]:
    calls = Calls()
    model: TableModel[Row, tuple[str, ...]]

    def by_rank(row: Row) -> int:
        calls.sort_keys += 1
        return row.rank

    def cells(row: Row, now: datetime) -> tuple[str, ...]:
        calls.cells += 1
        age = f"{int((now - NOW).total_seconds())}s" if row.running else "done"
        return (row.name, row.status, age)

    def haystack(row: Row) -> str:
        calls.haystacks += 1
        return f"{row.name} {row.status}"

    def shown(row: Row) -> bool:
        return not model.failed_only or row.status == "FAILED"

    model = TableModel(
        sorts=(Sort("rank", by_rank, reverse=reverse), Sort("name", lambda r: r.name)),
        cells=cells, clock=clock or Clock(), key_of=lambda r: r.key, shown=shown,
        haystack=haystack, ticking=lambda r: r.running, max_rows=max_rows)
    model.load(rows)
    return model, calls


def rows_of(n: int, **extra) -> list[Row]:
    return [Row(f"k{i:03d}", f"Name-{i:03d}", rank=i, **extra) for i in range(n)]


def expected(model: TableModel[Row, tuple[str, ...]]) -> list[str]:
    """The window by brute force: filter everything, sort by (sort key, row key)."""
    sort = model.current_sort
    keys = [key for key, row in model.rows.items() if model.wanted(row)]
    keys.sort()
    keys.sort(key=lambda key: sort.key(model.rows[key]), reverse=sort.reverse)
    return keys[: model.max_rows]


# --- filter ------------------------------------------------------------------------------


def test_filter_matches_casefolded_haystack_and_keeps_the_count():
    model, _ = make([Row("a", "Straße"), Row("b", "STRASSE road"), Row("c", "other")])
    model.filter_text = "strasse"
    model.rebuild()
    assert model.window == ["a", "b"]  # casefold: ß matches ss
    assert model.matching == {"a", "b"}
    model.filter_text = "ROAD"
    model.rebuild()
    assert model.window == ["b"]


def test_failed_only_is_the_tabs_predicate_with_the_models_flag():
    model, _ = make([Row("a", "x", "FAILED"), Row("b", "y", "SUCCESS"), Row("c", "z", "FAILED")])
    model.failed_only = True
    model.rebuild()
    assert model.window == ["a", "c"]
    model.filter_text = "z"
    model.rebuild()
    assert model.window == ["c"]


def test_filter_text_is_literal():
    model, _ = make([Row("a", "[red]x[/red]"), Row("b", "red x")])
    model.filter_text = "[red]"
    model.rebuild()
    assert model.window == ["a"]


def test_haystacks_are_built_once_per_row_object():
    model, calls = make(rows_of(50))
    model.warm()
    assert calls.haystacks == 50
    for text in ("n", "na", "nam", "name-01", ""):
        model.filter_text = text
        model.rebuild()
    assert calls.haystacks == 50
    model.apply([replace(model.rows["k001"], name="renamed")])
    model.filter_text = "renamed"
    model.rebuild()
    assert calls.haystacks == 51 and model.window == ["k001"]


def test_typing_narrows_what_the_shorter_text_matched_and_deleting_finds_it_again():
    model, _ = make(rows_of(120) + [Row("x1", "extra FAILED", "FAILED")], max_rows=50)
    asked: list[str] = []
    shown = model._shown
    model._shown = lambda row: asked.append(row.key) or shown(row)  # type: ignore[method-assign]
    typed = ["", "n", "na", "name-1", "name-11", "name-1", "na", "", "name-1"]
    for text in typed:
        model.filter_text = text
        before = len(asked)
        model.rebuild(filter_only=True)
        assert len(asked) == before, text  # the tab's predicate is not asked again
        assert model.window == expected(model) and model.matching == set(
            key for key, row in model.rows.items() if model.wanted(row)), text
    # A change to a row (or to what the tab's predicate reads) is never served from memory.
    model.apply([replace(model.rows["k110"], name="renamed")])
    model.filter_text = "name-11"
    model.rebuild(filter_only=True)
    assert "k110" not in model.window and model.window == expected(model)
    model.failed_only = True
    model.filter_text = "e"
    model.rebuild()
    assert model.window == ["x1"]


def test_redraw_rebuilds_the_cells_of_window_rows_only():
    labels = {"k001": "before", "k009": "before"}
    model: TableModel[Row, tuple[str, ...]] = TableModel(
        sorts=(Sort("rank", lambda r: r.rank),), clock=Clock(), key_of=lambda r: r.key,
        cells=lambda row, now: (labels.get(row.key, row.name),), max_rows=5)
    model.load(rows_of(10))
    window = list(model.window)
    assert model.cells_of("k001") == ("before",) and model.cells_of("k009") == ("before",)
    labels.update(k001="after", k009="after", k002="after")
    change = model.redraw(["k001", "k002", "k009", "unknown"])
    assert change.updated == {"k001", "k002"} and not change.moved and model.window == window
    assert model.cells_of("k009") == ("after",)  # forgotten, built again when asked


# --- sort --------------------------------------------------------------------------------


def test_ties_are_ordered_by_row_key_whatever_the_arrival_order():
    rows = [Row(key, key.upper(), rank=1) for key in ("d", "b", "c", "a")] + [Row("z", "Z", rank=0)]
    model, _ = make(rows)
    assert model.window == ["z", "a", "b", "c", "d"]
    model.apply([Row("bb", "BB", rank=1), Row("aa", "AA", rank=1)])  # row by row
    assert model.window == ["z", "a", "aa", "b", "bb", "c", "d"]
    model.invalidate()
    model.rebuild()  # one full sort: the same order
    assert model.window == ["z", "a", "aa", "b", "bb", "c", "d"]


def test_reverse_sort_keeps_ties_in_key_order():
    rows = [Row("b", "B", rank=1), Row("a", "A", rank=1), Row("c", "C", rank=2)]
    model, _ = make(rows, reverse=True)
    assert model.window == ["c", "a", "b"]
    model.apply([Row("d", "D", rank=1), replace(rows[2], rank=0)])
    assert model.window == ["a", "b", "d", "c"]


def test_changing_the_sort():
    model, _ = make([Row("a", "y", rank=1), Row("b", "x", rank=2)])
    assert model.window == ["a", "b"]
    model.sort_index = 1
    model.rebuild()
    assert model.current_sort.label == "name" and model.window == ["b", "a"]


def test_order_is_kept_between_rebuilds_and_moved_in_place():
    model, calls = make(rows_of(1000))
    calls.sort_keys = 0
    model.filter_text = "name-00"
    model.rebuild()
    model.filter_text = ""
    model.rebuild()
    assert calls.sort_keys == 0  # no sort again for a filter change
    model.apply([replace(model.rows["k500"], rank=-1)])
    assert model.window[0] == "k500"
    assert calls.sort_keys < 100  # a binary search, not a sort of 1,000 rows


def test_random_applies_match_a_full_rebuild():
    rnd = random.Random(7)
    model, _ = make(rows_of(200), max_rows=25)
    for step in range(300):
        if step % 50 == 10:
            model.filter_text = rnd.choice(["", "1", "name-0", "x"])
            model.rebuild()
        if step % 70 == 30:
            model.failed_only = not model.failed_only
            model.rebuild()
        batch = []
        for _ in range(rnd.randint(1, 4)):
            key = f"k{rnd.randrange(260):03d}"
            batch.append(Row(key, f"Name-{rnd.randrange(300):03d}", rnd.choice(["ok", "FAILED"]),
                             rank=rnd.randrange(50)))
        if rnd.random() < 0.2:
            model.drop(rnd.sample(sorted(model.rows), 3))
        else:
            model.apply(batch)
        assert model.window == expected(model), step
        assert model.matching == {k for k, r in model.rows.items() if model.wanted(r)}
        assert [model.index_of(key) for key in model.window] == list(range(len(model.window)))


# --- window ------------------------------------------------------------------------------


def test_window_shows_the_first_max_rows():
    model, _ = make(rows_of(10), max_rows=4)
    assert model.window == ["k000", "k001", "k002", "k003"]
    assert len(model.matching) == 10
    assert model.key_at(2) == "k002" and model.index_of("k002") == 2
    assert model.index_of("k009") is None


def test_a_row_that_sorts_first_enters_a_full_window_and_pushes_the_last_out():
    model, _ = make(rows_of(10), max_rows=4)
    change = model.apply([Row("new", "new", rank=-1)])
    assert change.moved and model.window == ["new", "k000", "k001", "k002"]
    change = model.apply([Row("late", "late", rank=99)])
    assert not change and model.window == ["new", "k000", "k001", "k002"]
    assert "late" in model.matching


def test_a_row_leaving_a_full_window_lets_the_next_one_in():
    model, _ = make(rows_of(10), max_rows=4)
    model.apply([replace(model.rows["k001"], rank=99)])  # sorts beyond the window now
    assert model.window == ["k000", "k002", "k003", "k004"]
    model.drop(["k000"])
    assert model.window == ["k002", "k003", "k004", "k005"]
    model.failed_only = True
    model.rebuild()
    assert model.window == []
    assert model.apply([Row("k007", "x", "FAILED", rank=7)]).moved
    assert model.window == ["k007"]


# --- apply -------------------------------------------------------------------------------


def test_apply_reports_the_rows_whose_cells_changed():
    model, _ = make(rows_of(5))
    for key in model.window:
        model.cells_of(key)  # painted
    change = model.apply([replace(model.rows["k002"], status="FAILED")])
    assert change == Change(moved=False, updated={"k002"})
    assert model.cells_of("k002") == ("Name-002", "FAILED", "done")
    change = model.apply([replace(model.rows["k003"])])  # a new object, the same cells
    assert not change


def test_apply_adds_updates_and_hides():
    model, _ = make(rows_of(3))
    change = model.apply([Row("k010", "Name-010", rank=-5), replace(model.rows["k001"], name="x")])
    assert change.moved and model.window == ["k010", "k000", "k001", "k002"]
    model.failed_only = True
    model.rebuild()
    assert model.window == []
    change = model.apply([replace(model.rows["k002"], status="FAILED")])
    assert change.moved and model.window == ["k002"]
    change = model.apply([replace(model.rows["k002"], status="ok")])  # no longer shown
    assert change.moved and model.window == [] and "k002" not in model.matching
    assert "k002" in model.rows


def test_apply_ignores_rows_that_are_not_shown():
    model, _ = make(rows_of(3))
    model.filter_text = "name-000"
    model.rebuild()
    assert not model.apply([replace(model.rows["k002"], status="x")])
    assert model.window == ["k000"]


def test_rerender_rebuilds_cells_and_haystacks_of_the_same_row():
    labels = {"k001": "before"}  # what cells and haystack read besides the row
    model: TableModel[Row, tuple[str, ...]] = TableModel(
        sorts=(Sort("rank", lambda r: r.rank),), clock=Clock(), key_of=lambda r: r.key,
        cells=lambda row, now: (labels.get(row.key, row.name),),
        haystack=lambda row: labels.get(row.key, row.name))
    model.load(rows_of(3))
    assert model.cells_of("k001") == ("before",)
    labels["k001"] = "after"
    assert model.cells_of("k001") == ("before",)  # cached per row object
    change = model.apply([], rerender=["k001", "unknown"])
    assert change.updated == {"k001"} and model.cells_of("k001") == ("after",)
    model.filter_text = "after"
    model.rebuild()
    assert model.window == ["k001"]


def test_drop():
    model, _ = make(rows_of(4))
    assert model.drop(["k001", "missing"]).moved
    assert model.window == ["k000", "k002", "k003"] and "k001" not in model.rows
    model.filter_text = "name-003"
    model.rebuild()
    assert not model.drop(["k000"]).moved  # not shown
    assert model.window == ["k003"]


# --- cells -------------------------------------------------------------------------------


def test_cells_are_built_once_per_row_object():
    model, calls = make(rows_of(3))
    first = model.cells_of("k000")
    assert model.cells_of("k000") is first and calls.cells == 1
    model.apply([replace(model.rows["k000"], name="other")])
    assert model.cells_of("k000") == ("other", "ok", "done") and calls.cells == 2


def test_clock_driven_cells_follow_the_tick():
    clock = Clock()
    model, calls = make(rows_of(2) + [Row("run", "run", rank=5, running=True)], clock=clock)
    assert model.cells_of("run")[2] == "0s"
    assert model.tick(model.window) == []  # same second: same cells
    clock.now += timedelta(seconds=2)
    assert model.tick(model.window) == ["run"]  # only the ticking row, only if it changed
    assert model.cells_of("run")[2] == "2s"
    clock.now += timedelta(seconds=2)
    assert model.cells_of("run")[2] == "4s"  # a second old: built again when painted
    assert model.cells_of("k000") is model.cells_of("k000")


def test_equal_cells_keep_their_object():
    """So that what the widget cached for them (the painted line) stays valid."""
    clock = Clock()
    model, _ = make([Row("a", "a", running=True)], clock=clock)
    cells = model.cells_of("a")
    assert model.tick(["a"]) == [] and model.cells_of("a") is cells
    clock.now += timedelta(seconds=3)
    model.apply([replace(model.rows["a"], running=False)])
    done = model.cells_of("a")
    clock.now += timedelta(seconds=3)
    model.apply([replace(model.rows["a"])])
    assert model.cells_of("a") is done


def test_built_cells_are_pruned_to_the_window():
    model, _ = make(rows_of(60), max_rows=5)
    model.BUILT_LIMIT = 10
    for key in model.rows:
        model.cells_of(key)
    assert len(model._built) <= 10 + 5 + 1
    assert model.cells_of("k000") == ("Name-000", "ok", "done")


# --- cursor ------------------------------------------------------------------------------


def test_cursor_index_follows_the_key_else_keeps_the_position():
    model, _ = make(rows_of(5))
    assert model.cursor_index("k003", 3) == 3
    model.apply([Row("first", "first", rank=-1)])
    assert model.cursor_index("k003", 3) == 4  # same row, one further down
    model.drop(["k003"])
    assert model.cursor_index("k003", 4) == 4  # gone: same place
    assert model.cursor_index(None, 99) == len(model.window) - 1
    model.filter_text = "nothing"
    model.rebuild()
    assert model.cursor_index("k001", 1) is None


# --- boundaries --------------------------------------------------------------------------


def test_the_model_needs_a_sort():
    with pytest.raises(ValueError):
        TableModel(sorts=(), cells=lambda r, n: (), clock=Clock(), key_of=lambda r: r.key)


def test_the_model_does_not_import_textual():
    code = ("import sys, basecamp_tui.table_model; "
            "print(any(m.split('.')[0] == 'textual' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
