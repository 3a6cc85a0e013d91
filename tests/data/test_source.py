import pytest

from synthbench.data.phantom_source import PhantomOptions, PhantomSource
from synthbench.data.source import DataSpec
from synthbench.errors import DataError


def test_string_and_table_forms_agree():
    a = DataSpec.parse("phantom:oct,fundus?size=64&n=400")
    b = DataSpec.parse({"source": "phantom", "name": "oct,fundus", "n": "400", "size": "64"})
    assert a == b
    assert str(a) == "phantom:oct,fundus?n=400&size=64"
    assert DataSpec.parse(str(a)) == a


def test_paths_with_colons_keep_the_name_whole():
    spec = DataSpec.parse("imagefolder:/data/x:y/images?size=32")
    assert spec.source == "imagefolder" and spec.name == "/data/x:y/images"


def test_options_are_typed_and_validated():
    opts = PhantomSource().options(
        DataSpec.parse("phantom:oct?n=50&difficulty=0.2&split=0.8,0.1,0.1")
    )
    assert isinstance(opts, PhantomOptions)
    assert opts.n == 50 and opts.difficulty == 0.2 and opts.split == (0.8, 0.1, 0.1)
    with pytest.raises(DataError, match=r"option 'difficulty'.*less than or equal to 1"):
        PhantomSource().options(DataSpec.parse("phantom:oct?difficulty=3"))
    with pytest.raises(
        DataError, match="valid options: split_seed, split, n, size, difficulty, seed"
    ):
        PhantomSource().options(DataSpec.parse("phantom:oct?sze=3"))


@pytest.mark.parametrize(
    "bad",
    ["", "phantom", ":oct", "phantom:", {"source": "phantom"}, {"name": "oct"}, "phantom:oct?n"],
)
def test_malformed_specs(bad):
    with pytest.raises(DataError):
        DataSpec.parse(bad)


@pytest.mark.parametrize("split", ["0.5,0.5,0.5", "0.6,0.2,0.1", "-0.2,0.6,0.6", "1.5,0,-0.5"])
def test_split_fractions_outside_0_1_or_not_summing_to_1_are_refused(split):
    from synthbench.data.source import load_data

    with pytest.raises(DataError) as err:
        load_data(f"phantom:oct?n=40&size=16&split={split}")
    message = str(err.value)
    assert "option 'split'" in message and "sum to 1" in message and "\n" not in message
    got = "[" + ", ".join(repr(f) for f in split.split(",")) + "]"
    assert message.endswith(f"(got {got})")  # the value as given, not rescaled
    with pytest.raises(DataError, match=r"sum to 1 \(got \[0.5, 0.5, 0.5\]\)"):
        load_data({"source": "phantom", "name": "oct", "n": 40, "split": [0.5, 0.5, 0.5]})


def test_nan_split_fraction_is_one_line_without_numpy_warnings():
    import warnings

    from synthbench.data.source import load_data

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from numpy would end the test
        with pytest.raises(DataError, match=r"sum to 1 \(got \['nan', '0.5', '0.5'\]\)"):
            load_data("phantom:oct?n=40&size=16&split=nan,0.5,0.5")


def test_split_fractions_that_sum_to_1_up_to_rounding_are_used():
    from synthbench.data.source import load_data

    data = load_data("phantom:oct?n=40&size=16&split=0.8,0.1,0.1")  # sums to 1.0000000000000002
    assert len(data.train) == 32 and len(data.val) + len(data.test) == 8
