import io

import pytest

from node.management.progress import ProgressBar, wants_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_redraws_in_place_only_when_the_percentage_moves() -> None:
    stream = io.StringIO()
    bar = ProgressBar(total=200, stream=stream, label="rows", width=10)
    bar.update(0)
    bar.update(1)
    bar.update(100)
    bar.update(200)
    bar.close()
    assert stream.getvalue() == (
        "\r[          ]   0%  0/200 rows\r[#####     ]  50%  100/200 rows\r[##########] 100%  200/200 rows\n"
    )


def test_counts_beyond_the_total_are_shown_as_the_total() -> None:
    stream = io.StringIO()
    ProgressBar(total=4, stream=stream, width=4).update(9)
    assert stream.getvalue() == "\r[####] 100%  4/4"


def test_a_bar_never_drawn_leaves_no_empty_line() -> None:
    stream = io.StringIO()
    ProgressBar(total=5, stream=stream).close()
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("stream", "quiet", "expected"),
    [(Terminal(), False, True), (Terminal(), True, False), (io.StringIO(), False, False), (object(), False, False)],
)
def test_progress_is_wanted_only_on_a_terminal_and_when_not_quiet(stream: object, quiet: bool, expected: bool) -> None:
    assert wants_progress(stream, quiet=quiet) is expected
