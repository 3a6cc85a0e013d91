"""The scheduler starts, of the cells ready to run, the one with the longest chain behind it."""

from synthbench.runner.executors import chain_lengths, schedule
from synthbench.runner.plan import Cell


def _chains(n_chains: int, length: int) -> list[Cell]:
    """``n_chains`` chains of ``length`` cells each (round r of seed s reads round r-1), listed
    chain by chain as a plan lists them."""
    cells = []
    for s in range(n_chains):
        for r in range(length):
            deps = (f"s{s}r{r - 1}",) if r else ()
            cells.append(Cell("refine", f"s{s}r{r}", {}, deps))
    return cells


def _simulate(cells: list[Cell], slots: int) -> tuple[int, list[str]]:
    """Run the schedule with every cell taking one time step: (steps to finish, start order)."""
    clock, running, started = 0, [], []

    def submit(cell):
        started.append(cell.key)
        running.append((clock + 1, cell.key))
        return cell.key

    def wait_one():
        nonlocal clock
        running.sort()
        end, key = running.pop(0)
        clock = max(clock, end)
        return key, {}, None

    outcomes = list(schedule(cells, submit, wait_one, slots))
    ended = [o for o in outcomes if not o.started]
    assert [o.error for o in ended] == [None] * len(cells)
    # each cell is reported when it starts (in the order submitted) and, later, when it ends
    assert [o.cell.key for o in outcomes if o.started] == started
    for cell in cells:
        marks = [o.started for o in outcomes if o.cell.key == cell.key]
        assert marks == [True, False], cell.key
    return clock, started


def test_chain_lengths_count_the_cells_behind_each():
    cells = [*_chains(2, 3), Cell("score", "x", {}, ("s0r2", "s1r0"))]
    assert chain_lengths(cells) == {
        "s0r0": 4,
        "s0r1": 3,
        "s0r2": 2,
        "s1r0": 3,
        "s1r1": 2,
        "s1r2": 1,
        "x": 1,
    }


def test_three_chains_on_two_slots_finish_in_the_fewest_steps():
    """Three seeds of four rounds on two workers: 12 cells, at best 6 steps. Running the first
    two chains to the end before starting the third takes 8."""
    steps, started = _simulate(_chains(3, 4), slots=2)
    assert steps == 6
    assert started[:3] == ["s0r0", "s1r0", "s2r0"]
    # dependencies are kept: each round starts after the one before it
    for s in range(3):
        order = [started.index(f"s{s}r{r}") for r in range(4)]
        assert order == sorted(order)


def test_one_slot_keeps_the_listed_order_of_equals():
    cells = _chains(2, 2)
    _, started = _simulate(cells, slots=1)
    assert started == ["s0r0", "s1r0", "s0r1", "s1r1"]
